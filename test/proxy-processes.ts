// Child processes for the proxy tests over real HTTP: the built CLI (rebuilt when a source is
// newer), and redis-server on a free loopback port. Not a test file itself.
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, readdirSync, statSync } from 'node:fs'
import { createServer } from 'node:net'
import { join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

export const ROOT = fileURLToPath(new URL('..', import.meta.url))
export const CLI = join(ROOT, 'dist/proxy-cli.mjs')
export const REDIS_SERVER = '/usr/bin/redis-server'

const children = new Set<ChildProcess>()

/** Kills every child this module started (SIGKILL: the test is over). */
export const killChildren = () => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  children.clear()
}

/** Builds the given rollup outputs (project settings) when a proxy source is newer than one of them. */
export const ensureBuilt = async (files = ['dist/proxy-cli.mjs']) => {
  const sources = [
    ...readdirSync(join(ROOT, 'src/proxy')).map((name) => join(ROOT, 'src/proxy', name)),
    ...['validate.ts', 'errors.ts', 'types.ts'].map((name) => join(ROOT, 'src', name)),
  ]
  const newest = Math.max(...sources.map((file) => statSync(file).mtimeMs))
  const { rollup } = await import('rollup')
  const { default: configs } = await import(pathToFileURL(join(ROOT, 'rollup.config.mjs')).href)
  for (const file of files) {
    const out = join(ROOT, file)
    if (existsSync(out) && statSync(out).mtimeMs >= newest) continue
    const config = configs.find((entry: { output: { file: string } }) => entry.output.file == file)
    const bundle = await rollup(config)
    await bundle.write({ ...config.output, file: out })
    await bundle.close()
  }
}

export const cleanEnv = () => Object.fromEntries(Object.entries(process.env).filter(([name]) => !/^(FLAMEUP_|PORT$|HOST$)/.test(name)))

/** Starts the CLI; resolves with its URL once it prints the listening line. */
export const startCli = (env: Record<string, string>) =>
  new Promise<{ child: ChildProcess; url: string; stderr: string[] }>((resolve, reject) => {
    const child = spawn(process.execPath, [CLI], { env: { ...cleanEnv(), HOST: '127.0.0.1', PORT: '0', ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
    children.add(child)
    const stderr: string[] = []
    let stdout = ''
    child.stderr!.on('data', (chunk) => stderr.push(String(chunk)))
    child.stdout!.on('data', (chunk) => {
      stdout += chunk
      const match = /listening on (http:\/\/\S+)/.exec(stdout)
      if (match) resolve({ child, url: match[1], stderr })
    })
    child.once('exit', (code) => reject(new Error('flameup-proxy exited with ' + code + ': ' + stderr.join(''))))
  })

/** Runs the CLI to its exit, with exactly `env` on top of the cleaned environment. */
export const runCli = (env: Record<string, string>) =>
  new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    const child = spawn(process.execPath, [CLI], { env: { ...cleanEnv(), ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
    children.add(child)
    let stdout = ''
    let stderr = ''
    child.stdout!.on('data', (chunk) => (stdout += chunk))
    child.stderr!.on('data', (chunk) => (stderr += chunk))
    child.once('close', (code) => resolve({ code, stdout, stderr }))
  })

/** A free TCP port on 127.0.0.1 (the kernel's pick, released for the caller to bind). */
export const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number }
      server.close(() => resolve(port))
    })
  })

/** redis-server on 127.0.0.1 without persistence; resolves once it accepts connections. */
export const startRedis = async (port?: number) => {
  port ??= await freePort()
  const child = spawn(REDIS_SERVER, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  children.add(child)
  await new Promise<void>((resolve, reject) => {
    let out = ''
    child.stdout!.on('data', (chunk) => {
      out += chunk
      if (out.includes('Ready to accept connections')) resolve()
    })
    child.once('exit', (code) => reject(new Error('redis-server exited with ' + code + ': ' + out)))
  })
  const stop = () =>
    new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve()
      child.once('exit', () => resolve())
      child.kill('SIGKILL')
    })
  return { port, url: 'redis://127.0.0.1:' + port, child, stop }
}
