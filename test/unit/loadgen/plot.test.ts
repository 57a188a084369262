import { expect } from 'chai';
import { escapeXml, latencyCharts, lineChartSvg, panelsSvg, type Chart } from '../../../bench/loadgen/plot.js';

/** checkXml is a small well-formedness check: one root, balanced and properly nested tags, quoted attributes, no raw & or <. */
function checkXml(s: string): void {
  const body = s.replace(/^<\?xml[^?]*\?>\s*/, '');
  const stack: string[] = [];
  let roots = 0;
  const re = /<(\/?)([a-zA-Z][\w:-]*)((?:\s+[\w:-]+="[^"<]*")*)\s*(\/?)>|<|&(?!(amp|lt|gt|quot|apos);)/g;
  let m: RegExpExecArray | null;
  let last = 0;
  while ((m = re.exec(body))) {
    if (m[2] === undefined) throw new Error(`bad markup near ${JSON.stringify(body.slice(m.index, m.index + 40))}`);
    expect(body.slice(last, m.index)).to.not.match(/[<>]/);
    last = re.lastIndex;
    const [, close, name, , selfClose] = m;
    if (close) {
      expect(stack.pop(), `closing </${name}>`).to.equal(name);
    } else if (!selfClose) {
      if (stack.length === 0) roots++;
      stack.push(name!);
    } else if (stack.length === 0) roots++;
  }
  expect(stack, 'unclosed tags').to.deep.equal([]);
  expect(roots).to.equal(1);
}

const chart = (over: Partial<Chart> = {}): Chart => ({
  title: 'p99 <hpa> & "hyperfaas"',
  xLabel: 'time (s)',
  yLabel: 'latency (ms)',
  series: [
    { name: 'hpa p99', points: [[0, 10], [1, 200], [2, 5000], [3, 40]] },
    { name: 'hyperfaas p99', points: [[0, 10], [1, 12], [2, NaN], [3, 11]], dashed: true },
  ],
  ...over,
});

describe('loadgen plot (SVG)', () => {
  it('escapes XML specials', () => expect(escapeXml(`<a href="x">&'`)).to.equal('&lt;a href=&quot;x&quot;&gt;&amp;&apos;'));

  it('writes a well-formed SVG with every series, its legend and the escaped title', () => {
    const svg = lineChartSvg(chart({ hLines: [{ y: 120, label: 'SLO 120 ms' }] }));
    checkXml(svg);
    expect(svg).to.match(/^<\?xml/);
    expect(svg).to.contain('<svg xmlns="http://www.w3.org/2000/svg"');
    expect(svg).to.contain('data-name="hpa p99"');
    expect(svg).to.contain('data-name="hyperfaas p99"');
    expect(svg).to.contain('>hyperfaas p99</text>');
    expect(svg).to.contain('p99 &lt;hpa&gt; &amp; &quot;hyperfaas&quot;');
    expect(svg).to.contain('SLO 120 ms');
  });

  it('breaks a line at a NaN point instead of drawing it at zero', () => {
    const svg = lineChartSvg(chart());
    const group = svg.split('data-name="hyperfaas p99"')[1]!.split('</g>')[0]!;
    expect(group.match(/<polyline/g)).to.have.length(2);
  });

  it('draws a log-scale y axis with decade ticks and skips non-positive values', () => {
    const svg = lineChartSvg(chart({ logY: true, series: [{ name: 's', points: [[0, 0], [1, 10], [2, 1000]] }] }));
    checkXml(svg);
    expect(svg).to.contain('(log)');
    for (const t of ['>10<', '>100<', '>1000<']) expect(svg).to.contain(t);
    const group = svg.split('data-name="s"')[1]!.split('</g>')[0]!;
    expect(group.match(/<polyline[^>]*points="([^"]*)"/)![1]!.split(' ')).to.have.length(2);
  });

  it('puts several panels side by side in one document', () => {
    const panels = latencyCharts(
      [
        { name: 'HPA-default', bins: [{ t: 0, p50: 5, p99: 50 }, { t: 1000, p50: 900, p99: 8000 }] },
        { name: 'HyperFaaS', bins: [{ t: 0, p50: 5, p99: 40 }, { t: 1000, p50: 6, p99: 60 }] },
      ],
      { sloMs: 120, title: 'W1' },
    );
    const svg = panelsSvg(panels, 2);
    checkXml(svg);
    expect(svg.match(/<g transform="translate\(/g)).to.have.length(2);
    expect(svg).to.contain('W1: HPA-default').and.contain('W1: HyperFaaS');
    expect(svg.match(/data-name="p99"/g)).to.have.length(2);
    expect(svg.match(/data-name="p50"/g)).to.have.length(2);
    expect(svg).to.contain('width="1280"');
  });

  it('copes with a chart without data', () => {
    const svg = lineChartSvg({ title: 'empty', xLabel: 'x', yLabel: 'y', series: [] });
    checkXml(svg);
  });
});
