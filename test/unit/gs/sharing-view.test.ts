import { expect } from 'chai';
import type { Instance } from '../../../src/backends/backend.js';
import { pick } from '../../../src/gs/placement.js';
import { InstanceView } from '../../../src/gs/view.js';

const inst = (id: string, fn: string, ready = true): Instance => ({
  id,
  function: fn,
  namespace: 'openfaas-fn',
  url: `http://127.0.0.1:${1000 + id.length}`,
  ready,
  startedAt: 0,
});

describe('InstanceView guest slots and held instances', () => {
  it('lends a host guest slot to another function as a candidate with the host URL', () => {
    const v = new InstanceView();
    v.apply({ type: 'added', instance: inst('h1', 'other') });
    expect(v.addGuest('h1', 'openfaas-fn', 'busy')).to.equal(true);
    const c = v.candidates('openfaas-fn', 'busy');
    expect(c).to.have.length(1);
    expect(c[0].guestOf).to.equal('h1');
    expect(c[0].instance.url).to.equal(v.candidate('h1')!.instance.url);
    expect(c[0].instance.function).to.equal('busy');
    expect(v.guests('openfaas-fn', 'busy')).to.deep.equal(['h1']);
    expect(v.instances().map((i) => i.id)).to.deep.equal(['h1']);
  });

  it('refuses to lend a slot of an unknown host', () => {
    const v = new InstanceView();
    expect(v.addGuest('nope', 'openfaas-fn', 'busy')).to.equal(false);
  });

  it('takes the guest candidate away with release and with the host', () => {
    const v = new InstanceView();
    v.apply({ type: 'added', instance: inst('h1', 'other') });
    v.addGuest('h1', 'openfaas-fn', 'busy');
    expect(v.removeGuest('h1')).to.deep.equal({ namespace: 'openfaas-fn', name: 'busy' });
    expect(v.candidates('openfaas-fn', 'busy')).to.have.length(0);
    v.addGuest('h1', 'openfaas-fn', 'busy');
    v.apply({ type: 'deleted', instance: inst('h1', 'other') });
    expect(v.candidates('openfaas-fn', 'busy')).to.have.length(0);
    expect(v.known('h1/guest')).to.equal(false);
  });

  it('follows the host readiness and its watermark block', () => {
    const v = new InstanceView();
    v.apply({ type: 'added', instance: inst('h1', 'other') });
    v.addGuest('h1', 'openfaas-fn', 'busy');
    v.setBlocked('h1', true);
    expect(v.candidates('openfaas-fn', 'busy')[0].blocked).to.equal(true);
    v.apply({ type: 'modified', instance: inst('h1', 'other', false) });
    expect(v.candidates('openfaas-fn', 'busy')[0].instance.ready).to.equal(false);
  });

  it('never picks an instance the policy holds back, and lifts the hold', () => {
    const v = new InstanceView();
    v.apply({ type: 'added', instance: inst('a', 'f') });
    v.apply({ type: 'added', instance: inst('b', 'f') });
    v.setRoutable('openfaas-fn', 'f', ['a']);
    for (let i = 0; i < 20; i++) {
      const p = pick(v.candidates('openfaas-fn', 'f'), Math.random)!;
      expect(p.instance.id).to.equal('a');
      p.release();
    }
    v.setRoutable('openfaas-fn', 'f', []);
    expect(pick(v.candidates('openfaas-fn', 'f'), Math.random)).to.equal(null);
    v.setRoutable('openfaas-fn', 'f', undefined);
    expect(pick(v.candidates('openfaas-fn', 'f'), Math.random)).to.not.equal(null);
  });
});
