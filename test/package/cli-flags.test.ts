// `flameup-proxy --help` and `--version` answer before any env check (issue 12: both printed
// "FLAMEUP_API_KEY and FLAMEUP_WORKSPACE_ID are required" and exited 1).
import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { describe, expect, it } from 'vitest'

const ROOT = resolve(__dirname, '../..')
const CLI = join(ROOT, 'dist/proxy-cli.mjs')
const run = (...args: string[]) => spawnSync(process.execPath, [CLI, ...args], { env: { PATH: process.env.PATH }, encoding: 'utf8' })

describe('flameup-proxy flags', () => {
  it.each(['--version', '-v'])('%s prints the package version and exits 0 without env', (flag) => {
    const { status, stdout, stderr } = run(flag)
    expect({ status, stdout, stderr }).toEqual({ status: 0, stdout: JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version + '\n', stderr: '' })
  })

  it.each(['--help', '-h'])('%s prints every env variable of CONTRACT §6 and exits 0 without env', (flag) => {
    const { status, stdout, stderr } = run(flag)
    expect(status).toBe(0)
    expect(stderr).toBe('')
    for (const name of ['FLAMEUP_API_KEY', 'FLAMEUP_WORKSPACE_ID', 'FLAMEUP_API_HOST', 'FLAMEUP_ALLOWED_ORIGINS', 'FLAMEUP_IDENTITY_SECRET', 'FLAMEUP_RATE_LIMIT', 'FLAMEUP_REDIS_URL', 'FLAMEUP_TRUST_PROXY', 'HOST', 'PORT', '/healthz'])
      expect(stdout).toContain(name)
  })

  it('refuses a malformed FLAMEUP_ALLOWED_ORIGINS entry with one line naming it', () => {
    const { status, stderr } = spawnSync(process.execPath, [CLI], {
      env: { PATH: process.env.PATH, FLAMEUP_API_KEY: 'k', FLAMEUP_WORKSPACE_ID: 'ws', FLAMEUP_ALLOWED_ORIGINS: 'https://ok.example,shop.example', PORT: '0' },
      encoding: 'utf8',
      timeout: 10000,
    })
    expect(status).toBe(1)
    expect(stderr.trim().split('\n')).toEqual([expect.stringMatching(/^flameup-proxy: FLAMEUP_ALLOWED_ORIGINS: .*"shop\.example"/)])
  })

  it('still refuses to start without the required env', () => {
    const { status, stderr } = run()
    expect(status).toBe(1)
    expect(stderr).toContain('FLAMEUP_API_KEY')
  })
})
