export { FlameupError } from './errors'
