import { resolve } from 'node:path';
import { type Command, parse, UsageError, writeLine } from '../cli-io.js';

const HELP = `usage: outflow nab <dir> [--detector <name>] [--json]

Rate an anomaly detector on the Numenta Anomaly Benchmark (NAB v1.1): run it
over every series of <dir> (a NAB checkout layout: data/<category>/<file>.csv,
optionally gzipped, labels/combined_windows.json, optionally results/), optimise
its threshold per profile on the whole corpus, and print a per-category table.
The last line is
  NAB standard=<x> reward_low_FP=<y> reward_low_FN=<z>
(normalised: the null detector scores 0, a perfect one 100).

--detector <name>   one of
                      outflow        Outflow's combined detector (default)
                      z_score, robust_z, out_of_range   single scorers
                    or results/<name>/ in <dir> (NAB's layout of precomputed
                    scores, e.g. "numenta" for the HTM reference run),
                    or a path to an ES module exporting a NAB detector
                    ({ name, description, create(file) => (timestamp, value) => score })
                    as "detector" or default: rate your own scorer.
--json              print the scores as JSON instead of the table

The corpus ships with Outflow: outflow nab packages/scorers/testdata/nab`;

export const nab: Command = {
  name: 'nab',
  summary: 'Rate a detector on the Numenta Anomaly Benchmark (NAB v1.1)',
  help: HELP,
  async run(argv, io) {
    const { values, positionals } = parse(argv, { detector: { type: 'string', short: 'd' }, json: { type: 'boolean' } });
    if (positionals.length !== 1) throw new UsageError('expected one directory (a NAB layout with data/ and labels/)');
    const dir = resolve(io.cwd, positionals[0] as string);
    const detector = typeof values.detector === 'string' ? values.detector : 'outflow';
    const { evaluateNab, formatNabReport } = await import('@outflow/scorers/nab');
    const result = await evaluateNab(dir, detector, { cwd: io.cwd });
    if (values.json) {
      const profiles = Object.fromEntries(
        Object.entries(result.profiles).map(([k, p]) => [k, { threshold: p.threshold, raw: p.raw, normalized: p.normalized }]),
      );
      writeLine(
        io.stdout,
        JSON.stringify({ detector: result.detector, files: result.files, windows: result.windows, detectMs: Math.round(result.detectMs), profiles }),
      );
    } else writeLine(io.stdout, formatNabReport(result));
    return 0;
  },
};
