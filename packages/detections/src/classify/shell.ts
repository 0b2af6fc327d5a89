/**
 * A small POSIX-shell lexer for classifying command lines: enough of the
 * grammar to find the simple commands of a script (`a | b && c; d`), their
 * words with quoting removed, their redirections, and the text of command
 * substitutions (`$(...)`, backticks). It never executes or expands anything,
 * never throws, and bounds its work (input length, commands, nesting).
 */

/** One redirection of a simple command: `2>&1`, `> /tmp/f`, `<> /dev/tcp/h/p`. */
export interface Redirect {
  /** The operator: `>`, `>>`, `<`, `<<`, `<<<`, `<>`, `>&`, `<&`, `&>`, `&>>`, `>|`. */
  op: string;
  /** File descriptor written before the operator, when any (`2>`). */
  fd?: number;
  /** The target word (a file, a descriptor number, a here-document delimiter). */
  target: string;
}

/** One simple command: its words after quote removal and its redirections. */
export interface SimpleCommand {
  argv: string[];
  redirects: Redirect[];
  /** Index of the pipeline this command belongs to (commands joined by `|` share it). */
  pipeline: number;
}

export interface ParsedScript {
  commands: SimpleCommand[];
  /** The text inside each `$(...)` and backtick substitution, in order. */
  substitutions: string[];
  /** True when the input or the number of commands hit a bound and was cut. */
  truncated: boolean;
}

export interface ParseOptions {
  /** Longest input read; the rest is ignored (`truncated`). Default 16 384. */
  maxLength?: number;
  /** Most simple commands returned. Default 64. */
  maxCommands?: number;
}

/** Reserved words that may start a command but are not programs. */
const KEYWORDS = new Set(['if', 'then', 'else', 'elif', 'fi', 'do', 'done', 'while', 'until', 'case', 'esac', '{', '}', '!', 'time', 'in', 'select']);

enum Tok {
  Word = 0,
  Op = 1,
}

interface Token {
  type: Tok;
  text: string;
  /** For redirection operators: the descriptor written before them. */
  fd?: number;
}

function isSpace(c: string): boolean {
  return c === ' ' || c === '\t' || c === '\r';
}

const OPERATOR_START = new Set(['|', '&', ';', '<', '>', '(', ')', '\n']);

/**
 * A command substitution starting at `i` — `$( ... )` (not the arithmetic `$(( ... ))`) or a backquoted one —
 * as its inner text and the index just past it (an unclosed one runs to the end); undefined when none starts there.
 */
function readSubstitution(s: string, i: number): { inner: string; end: number } | undefined {
  if (s[i] === '$' && s[i + 1] === '(' && s[i + 2] !== '(') return readParenthesized(s, i + 2);
  if (s[i] !== '`') return undefined;
  const close = s.indexOf('`', i + 1);
  return close < 0 ? { inner: s.slice(i + 1), end: s.length } : { inner: s.slice(i + 1, close), end: close + 1 };
}

/**
 * Read the text of a `$(...)` starting after `$(`; returns the inner text and
 * the index after the closing parenthesis. Quotes inside are honoured.
 */
function readParenthesized(s: string, start: number): { inner: string; end: number } {
  let depth = 1;
  let i = start;
  let quote = '';
  while (i < s.length) {
    const c = s[i] as string;
    if (quote) {
      if (c === quote) quote = '';
      else if (c === '\\' && quote === '"') i++;
    } else if (c === "'" || c === '"') quote = c;
    else if (c === '\\') i++;
    else if (c === '(') depth++;
    else if (c === ')') {
      depth--;
      if (depth === 0) return { inner: s.slice(start, i), end: i + 1 };
    }
    i++;
  }
  return { inner: s.slice(start), end: s.length };
}

/** Split a script into words and operators. Substitutions are collected into `subs`. */
function lex(s: string, subs: string[]): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  const n = s.length;
  while (i < n) {
    const c = s[i] as string;
    if (isSpace(c)) {
      i++;
      continue;
    }
    if (c === '\\' && s[i + 1] === '\n') {
      i += 2;
      continue;
    }
    if (c === '#') {
      while (i < n && s[i] !== '\n') i++;
      continue;
    }
    // A descriptor number directly before a redirection: `2>&1`, `0<&196`.
    if (c >= '0' && c <= '9') {
      let j = i;
      while (j < n && (s[j] as string) >= '0' && (s[j] as string) <= '9') j++;
      if (s[j] === '<' || s[j] === '>') {
        const fd = Number(s.slice(i, j));
        i = j;
        const op = readRedirectOp(s, i);
        tokens.push({ type: Tok.Op, text: op, fd });
        i += op.length;
        continue;
      }
    }
    if (OPERATOR_START.has(c)) {
      if (c === '<' || c === '>' || (c === '&' && s[i + 1] === '>')) {
        const op = readRedirectOp(s, i);
        tokens.push({ type: Tok.Op, text: op });
        i += op.length;
        continue;
      }
      const two = s.slice(i, i + 2);
      if (two === '&&' || two === '||' || two === ';;') {
        tokens.push({ type: Tok.Op, text: two });
        i += 2;
        continue;
      }
      tokens.push({ type: Tok.Op, text: c === '\n' ? ';' : c });
      i++;
      continue;
    }
    // A word: runs until an unquoted blank or operator.
    let word = '';
    while (i < n) {
      const ch = s[i] as string;
      if (isSpace(ch) || OPERATOR_START.has(ch)) break;
      if (ch === "'") {
        const end = s.indexOf("'", i + 1);
        if (end < 0) {
          word += s.slice(i + 1);
          i = n;
        } else {
          word += s.slice(i + 1, end);
          i = end + 1;
        }
        continue;
      }
      if (ch === '"') {
        i++;
        while (i < n && s[i] !== '"') {
          const q = s[i] as string;
          if (q === '\\' && i + 1 < n && '"\\$`\n'.includes(s[i + 1] as string)) {
            if (s[i + 1] !== '\n') word += s[i + 1];
            i += 2;
            continue;
          }
          const sub = readSubstitution(s, i);
          if (sub) {
            subs.push(sub.inner);
            word += s.slice(i, sub.end);
            i = sub.end;
            continue;
          }
          word += q;
          i++;
        }
        i++;
        continue;
      }
      if (ch === '\\') {
        if (i + 1 < n) word += s[i + 1];
        i += 2;
        continue;
      }
      const sub = readSubstitution(s, i);
      if (sub) {
        subs.push(sub.inner);
        word += s.slice(i, sub.end);
        i = sub.end;
        continue;
      }
      word += ch;
      i++;
    }
    tokens.push({ type: Tok.Word, text: word });
  }
  return tokens;
}

function readRedirectOp(s: string, i: number): string {
  for (const op of ['&>>', '<<<', '&>', '>>', '>&', '>|', '<<', '<&', '<>', '>', '<']) {
    if (s.startsWith(op, i)) return op;
  }
  return s[i] as string;
}

const ASSIGNMENT = /^[A-Za-z_][A-Za-z0-9_]*=/;

/**
 * Parse a shell script (`sh -c` argument, a container command line) into
 * simple commands. Leading variable assignments and reserved words are
 * dropped from each command (`FOO=1 while true; do x; done` gives `true` and
 * `x`); `for`/`case` headers are skipped.
 */
export function parseScript(input: string, options: ParseOptions = {}): ParsedScript {
  const maxLength = options.maxLength ?? 16_384;
  const maxCommands = options.maxCommands ?? 64;
  const truncatedInput = input.length > maxLength;
  const subs: string[] = [];
  const tokens = lex(truncatedInput ? input.slice(0, maxLength) : input, subs);
  const commands: SimpleCommand[] = [];
  let pipeline = 0;
  let current: SimpleCommand = { argv: [], redirects: [], pipeline };
  let truncated = truncatedInput;
  const flush = () => {
    let argv = current.argv;
    let k = 0;
    while (k < argv.length && (KEYWORDS.has(argv[k] as string) || ASSIGNMENT.test(argv[k] as string))) k++;
    if (k > 0) argv = argv.slice(k);
    const head = argv[0];
    if (head === 'for' || head === 'case' || head === 'function') argv = [];
    if (argv.length > 0 || current.redirects.length > 0) {
      if (commands.length < maxCommands) commands.push({ argv, redirects: current.redirects, pipeline: current.pipeline });
      else truncated = true;
    }
  };
  for (let t = 0; t < tokens.length; t++) {
    const tok = tokens[t] as Token;
    if (tok.type === Tok.Word) {
      current.argv.push(tok.text);
      continue;
    }
    const op = tok.text;
    if (op === '|') {
      flush();
      current = { argv: [], redirects: [], pipeline };
      continue;
    }
    if (op === ';' || op === '&' || op === '&&' || op === '||' || op === ';;' || op === '(' || op === ')') {
      flush();
      pipeline++;
      current = { argv: [], redirects: [], pipeline };
      continue;
    }
    // A redirection: the next word is its target.
    const next = tokens[t + 1];
    const target = next && next.type === Tok.Word ? next.text : '';
    if (next && next.type === Tok.Word) t++;
    const r: Redirect = { op, target };
    if (tok.fd !== undefined) r.fd = tok.fd;
    current.redirects.push(r);
  }
  flush();
  return { commands, substitutions: subs, truncated };
}

/**
 * Split one command line into words (quotes and backslashes honoured,
 * operators kept as words): for sensors that report a process's arguments as
 * one string.
 */
export function splitWords(line: string): string[] {
  const words: string[] = [];
  for (const tok of lex(line, [])) words.push(tok.fd !== undefined ? `${tok.fd}${tok.text}` : tok.text);
  return words;
}

/** The last path component of a program name (`/usr/bin/curl` → `curl`). */
export function basename(program: string): string {
  const slash = program.lastIndexOf('/');
  return slash >= 0 ? program.slice(slash + 1) : program;
}
