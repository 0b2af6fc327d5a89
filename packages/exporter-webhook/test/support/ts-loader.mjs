// Lets a plain `node` child process run the TypeScript sources of this
// monorepo (for the kill test): resolves workspace packages through their
// "source" export condition (start node with `--conditions=source`), maps
// NodeNext `.js` specifiers to `.ts` files, and strips types with the
// TypeScript compiler the repository already uses.
import { register } from 'node:module';

register(
  `data:text/javascript,${encodeURIComponent(`
    import { readFile } from 'node:fs/promises';
    import { createRequire } from 'node:module';
    const require = createRequire(${JSON.stringify(import.meta.url)});
    const ts = require('typescript');
    export async function resolve(specifier, context, next) {
      try {
        return await next(specifier, context);
      } catch (err) {
        if (err?.code === 'ERR_MODULE_NOT_FOUND' && specifier.endsWith('.js') && (specifier.startsWith('.') || specifier.startsWith('/'))) {
          return next(specifier.slice(0, -3) + '.ts', context);
        }
        throw err;
      }
    }
    export async function load(url, context, next) {
      if (!url.endsWith('.ts')) return next(url, context);
      const source = await readFile(new URL(url), 'utf8');
      const out = ts.transpileModule(source, {
        fileName: url,
        compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022, verbatimModuleSyntax: true, sourceMap: false },
      });
      return { format: 'module', source: out.outputText, shortCircuit: true };
    }
  `)}`,
);
