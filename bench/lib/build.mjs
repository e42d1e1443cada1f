// Bundles each peer entry (bench/peers/entries/<name>.js) for the browser with the esbuild
// installed in bench/peers: ESM with code splitting, so lazily imported chunks stay separate
// files that the page fetches (and the benchmark counts) only when the SDK really loads them.
import { createRequire } from 'node:module'
import { rmSync } from 'node:fs'
import { join } from 'node:path'

export const build = async ({ peersDir, names, outDir }) => {
  const esbuild = createRequire(join(peersDir, 'package.json'))('esbuild')
  rmSync(outDir, { recursive: true, force: true })
  const out = {}
  for (const name of names) {
    const result = await esbuild.build({
      entryPoints: { [name]: join(peersDir, 'entries', `${name}.js`) },
      absWorkingDir: peersDir,
      bundle: true,
      format: 'esm',
      splitting: true,
      minify: true,
      platform: 'browser',
      // No down-levelling: each peer keeps its own syntax, which is the smallest form of it.
      target: 'esnext',
      legalComments: 'none',
      define: { 'process.env.NODE_ENV': '"production"' },
      outdir: join(outDir, name),
      chunkNames: 'chunk-[hash]',
      metafile: true,
      logLevel: 'silent',
    })
    out[name] = { files: Object.keys(result.metafile.outputs), esbuildVersion: esbuild.version }
  }
  return out
}
