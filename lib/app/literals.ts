// Literal arguments of an app factory, as Python's ast.literal_eval accepts
// them in Gunicorn's "module:factory(args)": strings ('..' or ".."), numbers,
// True/False/None (and true/false/null), lists, dicts/objects, and keyword
// arguments name=value, which are passed as one trailing object.

class P {
  i = 0;
  constructor(readonly s: string) {}
  ws(): void {
    while (this.i < this.s.length && /\s/.test(this.s[this.i]!)) this.i++;
  }
  peek(): string | undefined {
    this.ws();
    return this.s[this.i];
  }
  eat(c: string): boolean {
    if (this.peek() === c) {
      this.i++;
      return true;
    }
    return false;
  }
  expect(c: string): void {
    if (!this.eat(c)) throw new SyntaxError(`expected ${c} at ${this.i}`);
  }
  value(): unknown {
    const c = this.peek();
    if (c === undefined) throw new SyntaxError('unexpected end');
    if (c === "'" || c === '"') return this.string(c);
    if (c === '[' || c === '(') {
      const close = c === '[' ? ']' : ')';
      this.i++;
      const out: unknown[] = [];
      while (!this.eat(close)) {
        out.push(this.value());
        if (!this.eat(',')) {
          this.expect(close);
          break;
        }
      }
      return out;
    }
    if (c === '{') {
      this.i++;
      const out: Record<string, unknown> = {};
      while (!this.eat('}')) {
        const q = this.peek();
        const k = q === "'" || q === '"' ? this.string(q) : this.ident();
        this.expect(':');
        out[String(k)] = this.value();
        if (!this.eat(',')) {
          this.expect('}');
          break;
        }
      }
      return out;
    }
    const num = /^[-+]?(?:0x[0-9a-fA-F]+|\d+(?:\.\d*)?(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?)/.exec(
      this.s.slice(this.i),
    );
    if (num) {
      this.i += num[0].length;
      return Number(num[0]);
    }
    const id = this.ident();
    const consts: Record<string, unknown> = {
      True: true,
      False: false,
      None: null,
      true: true,
      false: false,
      null: null,
    };
    if (id in consts) return consts[id];
    throw new SyntaxError(`not a literal: ${id}`);
  }
  ident(): string {
    this.ws();
    const m = /^[A-Za-z_$][\w$]*/.exec(this.s.slice(this.i));
    if (!m) throw new SyntaxError(`unexpected ${this.s[this.i]} at ${this.i}`);
    this.i += m[0].length;
    return m[0];
  }
  string(q: string): string {
    this.i++;
    let out = '';
    while (this.i < this.s.length && this.s[this.i] !== q) {
      const ch = this.s[this.i]!;
      if (ch === '\\') {
        const n = this.s[this.i + 1];
        out += n === 'n' ? '\n' : n === 't' ? '\t' : n === 'r' ? '\r' : (n ?? '');
        this.i += 2;
      } else {
        out += ch;
        this.i++;
      }
    }
    if (this.s[this.i] !== q) throw new SyntaxError('unterminated string');
    this.i++;
    return out;
  }
}

/** "1, 'a', debug=True" -> [1, 'a', {debug: true}] */
export function parseLiteralArgs(src: string): unknown[] {
  const p = new P(src);
  const args: unknown[] = [];
  const kwargs: Record<string, unknown> = {};
  let haveKw = false;
  while (p.peek() !== undefined) {
    const save = p.i;
    const kw = /^\s*([A-Za-z_$][\w$]*)\s*=(?!=)/.exec(src.slice(p.i));
    if (kw) {
      p.i = save + kw[0].length;
      kwargs[kw[1]!] = p.value();
      haveKw = true;
    } else {
      if (haveKw) throw new SyntaxError('positional argument follows keyword argument');
      args.push(p.value());
    }
    if (!p.eat(',')) break;
  }
  if (p.peek() !== undefined) throw new SyntaxError(`unexpected ${p.peek()}`);
  if (haveKw) args.push(kwargs);
  return args;
}
