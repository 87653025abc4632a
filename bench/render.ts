// Re-renders the Markdown report and the SVG chart from a results JSON, e.g. after changing
// bench/report.ts, or to publish a run as the committed sample:
//   npx tsx bench/render.ts bench/results/bench-<time>.json sample
import { readFile, writeFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { markdownReport, svgChart, textReport, type BenchResults } from './report.js'

const [source, name] = process.argv.slice(2)
if (!source || !name) {
  console.error('usage: tsx bench/render.ts <results.json> <name>')
  process.exit(2)
}
const results = JSON.parse(await readFile(source, 'utf8')) as BenchResults
const out = dirname(source)
await writeFile(join(out, `${name}.json`), JSON.stringify(results, null, 2) + '\n')
await writeFile(join(out, `${name}.md`), markdownReport(results, `${name}.svg`))
await writeFile(join(out, `${name}.svg`), svgChart(results))
console.log(textReport(results))
console.log(`wrote ${join(out, name)}.{json,md,svg}`)
