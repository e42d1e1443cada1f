import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { createInterface } from 'node:readline'

/**
 * Runs the real `flameup-proxy` CLI as a child, exactly as a user would, and resolves with the
 * URL it prints. Its output is forwarded line by line behind `prefix`. `onExit(code, signal)` is
 * told if it stops before `stop()` was called.
 */
export const startProxyProcess = ({ cli, env, prefix = '[proxy] ', onExit = () => {}, timeoutMs = 15000 }) =>
  new Promise((resolve, reject) => {
    if (!existsSync(cli)) return reject(new Error(cli + ' is missing; run `npm run build` first'))
    const child = spawn(process.execPath, [cli], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
    let url
    let stopping = false
    const timer = setTimeout(() => fail(new Error('flameup-proxy printed no URL within ' + timeoutMs + ' ms')), timeoutMs)
    const fail = (error) => {
      clearTimeout(timer)
      child.kill('SIGKILL')
      reject(error)
    }
    const exited = new Promise((done) => child.once('exit', (code, signal) => done({ code, signal })))
    const stop = async () => {
      stopping = true
      if (child.exitCode == null && child.signalCode == null) {
        child.kill('SIGTERM')
        // The CLI drains requests for up to five seconds; past that, stop waiting.
        const force = setTimeout(() => child.kill('SIGKILL'), 6000)
        await exited
        clearTimeout(force)
      }
    }
    for (const [stream, out] of [[child.stdout, process.stdout], [child.stderr, process.stderr]])
      createInterface({ input: stream }).on('line', (line) => {
        out.write(prefix + line + '\n')
        if (url || stream != child.stdout) return
        url = line.match(/https?:\/\/[^\s]+/)?.[0]
        if (url) {
          clearTimeout(timer)
          resolve({ url, stop })
        }
      })
    child.once('error', fail)
    exited.then(({ code, signal }) => {
      if (!url) return fail(new Error('flameup-proxy exited (' + (signal || code) + ') before it printed its URL'))
      if (!stopping) onExit(code, signal)
    })
  })
