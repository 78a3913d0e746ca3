/**
 * A small XML parser for the SVG vega writes (elements, attributes, text; no DTD, no CDATA), so the tests
 * can check structure: it throws on an unbalanced tag, which is the "parses as XML" check.
 */
export interface SvgNode {
  tag: string;
  attrs: Record<string, string>;
  children: SvgNode[];
  text: string;
}

const ENTITIES: Record<string, string> = { '&lt;': '<', '&gt;': '>', '&amp;': '&', '&quot;': '"', '&#39;': "'", '&apos;': "'" };
const unescapeEntities = (s: string) => s.replace(/&(lt|gt|amp|quot|apos|#39);/g, (m) => ENTITIES[m]);

export function parseSvg(svg: string): SvgNode {
  const root: SvgNode = { tag: '#root', attrs: {}, children: [], text: '' };
  const stack = [root];
  const re = /<(\/?)([A-Za-z][\w:.-]*)((?:\s+[\w:.-]+="[^"]*")*)\s*(\/?)>|([^<]+)|(<)/g;
  for (const m of svg.matchAll(re)) {
    const [, close, tag, attrText, selfClose, text, stray] = m;
    const top = stack[stack.length - 1];
    if (stray) throw new Error(`unparsable "<" at ${m.index}: ${svg.slice(m.index, m.index + 40)}`);
    if (text !== undefined) {
      top.text += unescapeEntities(text);
      continue;
    }
    if (close) {
      if (top.tag !== tag) throw new Error(`</${tag}> closes <${top.tag}> at ${m.index}`);
      stack.pop();
      continue;
    }
    const attrs: Record<string, string> = {};
    for (const a of attrText!.matchAll(/([\w:.-]+)="([^"]*)"/g)) attrs[a[1]] = unescapeEntities(a[2]);
    const node: SvgNode = { tag: tag!, attrs, children: [], text: '' };
    top.children.push(node);
    if (!selfClose) stack.push(node);
  }
  if (stack.length !== 1) throw new Error(`unclosed <${stack[stack.length - 1].tag}>`);
  if (root.children.length !== 1 || root.children[0].tag !== 'svg') throw new Error('expected one <svg> root element');
  return root.children[0];
}

export function walk(node: SvgNode, visit: (n: SvgNode) => void): void {
  visit(node);
  for (const c of node.children) walk(c, visit);
}

/** Every <text> content in the drawing (axis titles, tick labels, legend entries, headers, titles). */
export function texts(root: SvgNode): string[] {
  const out: string[] = [];
  walk(root, (n) => {
    if (n.tag === 'text')
      out.push(
        n.text.trim() ||
          n.children
            .map((c) => c.text)
            .join('')
            .trim(),
      );
  });
  return out;
}

/** The groups vega draws one mark of `type` into (class "mark-<type> role-mark ..."). */
export function markGroups(root: SvgNode, type: string): SvgNode[] {
  const out: SvgNode[] = [];
  walk(root, (n) => {
    const cls = (n.attrs.class ?? '').split(/\s+/);
    if (n.tag === 'g' && cls.includes(`mark-${type}`) && cls.includes('role-mark')) out.push(n);
  });
  return out;
}

/** The drawn items (paths, lines, texts) of every mark of `type`. */
export function markItems(root: SvgNode, type: string): SvgNode[] {
  return markGroups(root, type).flatMap((g) => g.children.filter((c) => c.tag !== 'g'));
}

/** Height of a vega bar/rect path "M x,y h w v h h -w Z". */
export function rectHeight(d: string): number {
  const m = /v(-?[\d.e+-]+)/.exec(d);
  if (!m) throw new Error(`not a rect path: ${d}`);
  return Math.abs(Number(m[1]));
}
