// Vue: composables/useLogin.ts, used in a component's <script setup lang="ts"> as
// `const { logIn } = useLogin()`. Nuxt renders on the server too; the client is created on the
// first call in the browser (getFlameup), never at import.
import { getFlameup } from './flameup-client'

export function useLogin() {
  async function logIn(email: string, password: string) {
    const response = await fetch('/api/login', { method: 'POST', body: JSON.stringify({ email, password }) })
    const user: { id: string; email: string; plan: string } = await response.json()
    // Not awaited before navigating: identify stores the call first, and a closing page sends it.
    getFlameup()?.identify(user.id, { email: user.email, plan: user.plan }).catch(console.warn)
    location.assign('/account')
  }
  return { logIn }
}
