#!/usr/bin/env node
// SPDX-License-Identifier: MIT
//
// Generates tests/vow/order-cases.h for tests/vow/test-order.c: small promise programs
// and the order in which Node (the oracle: ECMAScript's job queue) runs their handlers.
//
//   node tests/vow/gen-order.js > tests/vow/order-cases.h
//
// Node 20 or later; the output depends only on this file (the random programs come
// from a fixed seed), so running it again gives the same header unless the oracle or
// the programs change. The C test never needs Node.
//
// The program language (the C test parses the same text):
//
//   program := phase ('|' phase)* ['@' P*]      phases run one after another: the
//                                               first synchronously, each later one
//                                               once the job queue is empty (Node:
//                                               setImmediate; libvow: after
//                                               vow_loop_run returned); '@' lists the
//                                               promises whose final state is also
//                                               checked when only the program's own
//                                               references are held
//   phase   := [stmt (';' stmt)*]
//   stmt    := P '=' expr                       creates promise P (at most once)
//            | 'res' P V | 'rej' P K            settles the deferred P (a no-op if it
//            | 'resw' P P2                      is already resolved); resw: P adopts P2
//   expr    := 'res' V | 'rej' K | 'def'        Promise.resolve / reject / a deferred
//            | 'then' P H H | 'catch' P H | 'fin' P H
//            | ('all' | 'allset' | 'race' | 'any') P*
//   H       := '-' | '{' label ':' [stmt (';' stmt)*] '=>' ret '}'
//   ret     := 'ret' V | 'pass' | 'throw' K | 'retp' P | 'retres' V | 'retrej' K
//
// P is pN (N >= 0), V and K small non-negative integers. A handler logs its label
// and its input (a finally handler only its label), runs its statements, then
// returns: ret V returns V; pass returns the input (on_err rethrows, finally returns
// undefined); throw K throws K; retp returns the existing promise P; retres/retrej
// return Promise.resolve(V)/Promise.reject(K).
//
// Mapping to libvow: numbers are vow_val_num; a rejection with reason K is code
// VOW_EUSER with detail vow_val_num(K); AggregateError is VOW_EAGGREGATE with its
// vow_list; TypeError (a promise resolved with itself) is VOW_ECYCLE. Values print
// as: K for a number, "[a,b]" for a list (all, allSettled: each item printed as an
// outcome), "!R" for a rejection, "agg[!a,!b]" for an aggregate, "TypeError".
// A statement whose promise operand does not exist (yet) is skipped by both
// interpreters; programs only do that at the top level of a later phase.
'use strict';

// ------------------------------------------------------------------ parsing

function tokenize(text) {
    const toks = [];
    const re = /\s*(=>|[{};|@=]|[A-Za-z0-9_-]+:|[A-Za-z0-9_-]+)/y;
    let m;
    re.lastIndex = 0;
    while (re.lastIndex < text.length) {
        if (/^\s*$/.test(text.slice(re.lastIndex)))
            break;
        const at = re.lastIndex;
        m = re.exec(text);
        if (!m)
            throw new Error(`bad character at ${at}: ${text.slice(at, at + 20)}`);
        toks.push(m[1]);
    }
    return toks;
}

const COMB = new Set(['all', 'allset', 'race', 'any']);

function parse(text) {
    const t = tokenize(text);
    let i = 0;
    const prog = { phases: [], handlers: [], observe: [], nprom: 0, defs: new Set(), made: new Set() };
    const peek = () => t[i];
    const next = () => {
        if (i >= t.length)
            throw new Error('unexpected end');
        return t[i++];
    };
    const expect = (s) => {
        const x = next();
        if (x !== s)
            throw new Error(`expected ${s}, got ${x} at token ${i - 1}`);
    };
    const prom = () => {
        const x = next();
        if (!/^p\d+$/.test(x))
            throw new Error(`expected a promise, got ${x}`);
        const n = Number(x.slice(1));
        prog.nprom = Math.max(prog.nprom, n + 1);
        return n;
    };
    const num = () => {
        const x = next();
        if (!/^\d+$/.test(x))
            throw new Error(`expected a number, got ${x}`);
        return Number(x);
    };
    function handler() {
        const x = next();
        if (x === '-')
            return -1;
        if (x !== '{')
            throw new Error(`expected a handler, got ${x}`);
        const lab = next();
        if (!lab.endsWith(':'))
            throw new Error(`expected a label, got ${lab}`);
        const h = { label: lab.slice(0, -1), body: [], ret: null };
        const id = prog.handlers.length;
        prog.handlers.push(h);
        if (peek() !== '=>') {
            h.body.push(stmt());
            while (peek() === ';') {
                next();
                h.body.push(stmt());
            }
        }
        expect('=>');
        const k = next();
        if (k === 'pass')
            h.ret = { kind: k };
        else if (k === 'retp')
            h.ret = { kind: k, p: prom() };
        else if (['ret', 'throw', 'retres', 'retrej'].includes(k))
            h.ret = { kind: k, n: num() };
        else
            throw new Error(`bad return ${k}`);
        expect('}');
        return id;
    }
    function stmt() {
        const x = next();
        if (x === 'res' || x === 'rej' || x === 'resw') {
            const d = prom();
            if (x === 'resw')
                return { op: x, d, p: prom() };
            return { op: x, d, n: num() };
        }
        if (!/^p\d+$/.test(x))
            throw new Error(`bad statement start ${x}`);
        i--;
        const dst = prom();
        if (prog.made.has(dst))
            throw new Error(`p${dst} created twice`);
        prog.made.add(dst);
        expect('=');
        const op = next();
        if (op === 'res' || op === 'rej')
            return { op: 'mk' + op, dst, n: num() };
        if (op === 'def') {
            prog.defs.add(dst);
            return { op, dst };
        }
        if (op === 'then') {
            const src = prom();
            const h1 = handler();
            return { op, dst, src, h1, h2: handler() };
        }
        if (op === 'catch' || op === 'fin')
            return { op, dst, src: prom(), h1: handler() };
        if (COMB.has(op)) {
            const ins = [];
            while (i < t.length && /^p\d+$/.test(peek()))
                ins.push(prom());
            return { op, dst, ins };
        }
        throw new Error(`bad expression ${op}`);
    }
    function phase() {
        const ss = [];
        if (i >= t.length || peek() === '|' || peek() === '@')
            return ss;
        ss.push(stmt());
        while (peek() === ';') {
            next();
            ss.push(stmt());
        }
        return ss;
    }
    prog.phases.push(phase());
    while (peek() === '|') {
        next();
        prog.phases.push(phase());
    }
    if (peek() === '@') {
        next();
        while (i < t.length)
            prog.observe.push(prom());
    }
    if (i !== t.length)
        throw new Error(`trailing tokens from ${t[i]}`);
    return prog;
}

// ------------------------------------------------------------------- oracle

function renderReason(e) {
    if (typeof e === 'number')
        return String(e);
    if (e instanceof AggregateError)
        return 'agg[' + e.errors.map((x) => '!' + renderReason(x)).join(',') + ']';
    if (e instanceof TypeError)
        return 'TypeError';
    return 'odd(' + String(e) + ')';
}

function renderValue(v) {
    if (typeof v === 'number')
        return String(v);
    if (v === undefined)
        return 'u';
    if (Array.isArray(v))
        return '[' + v.map(renderItem).join(',') + ']';
    return 'odd(' + String(v) + ')';
}

function renderItem(x) {
    if (x && typeof x === 'object' && 'status' in x)
        return x.status === 'fulfilled' ? renderValue(x.value) : '!' + renderReason(x.reason);
    return renderValue(x);
}

// Runs prog in this process; done(log, states) once every phase ran and the job queue
// is empty. Each program runs alone: the next starts from a later setImmediate.
function runProgram(prog, done) {
    const P = new Array(prog.nprom);
    const R = new Array(prog.nprom);
    const log = [];
    let invalid = null;
    const has = (n) => P[n] !== undefined;

    function retOf(h, input, kind) {
        const r = h.ret;
        switch (r.kind) {
        case 'ret':
            return r.n;
        case 'pass':
            if (kind === 'err')
                throw input;
            return kind === 'ok' ? input : undefined;
        case 'throw':
            throw r.n;
        case 'retp':
            if (!has(r.p)) {
                // The C interpreter treats this as a broken program: so does the generator.
                invalid = `${h.label} returns p${r.p}, which does not exist`;
                return -1;
            }
            return P[r.p];
        case 'retres':
            return Promise.resolve(r.n);
        case 'retrej':
            return Promise.reject(r.n);
        }
        throw new Error('bad ret');
    }

    function mkHandler(id, kind) {
        if (id < 0)
            return undefined;
        const h = prog.handlers[id];
        if (kind === 'fin')
            return () => {
                log.push(h.label);
                h.body.forEach(exec);
                return retOf(h, undefined, kind);
            };
        return (x) => {
            log.push(h.label + ':' + (kind === 'ok' ? renderValue(x) : '!' + renderReason(x)));
            h.body.forEach(exec);
            return retOf(h, x, kind);
        };
    }

    function exec(s) {
        switch (s.op) {
        case 'mkres':
            P[s.dst] = Promise.resolve(s.n);
            return;
        case 'mkrej':
            P[s.dst] = Promise.reject(s.n);
            return;
        case 'def':
            P[s.dst] = new Promise((res, rej) => {
                R[s.dst] = { res, rej };
            });
            return;
        case 'then':
            if (has(s.src))
                P[s.dst] = P[s.src].then(mkHandler(s.h1, 'ok'), mkHandler(s.h2, 'err'));
            return;
        case 'catch':
            if (has(s.src))
                P[s.dst] = P[s.src].catch(mkHandler(s.h1, 'err'));
            return;
        case 'fin':
            if (has(s.src))
                P[s.dst] = P[s.src].finally(mkHandler(s.h1, 'fin'));
            return;
        case 'all':
        case 'allset':
        case 'race':
        case 'any': {
            if (!s.ins.every(has))
                return;
            const f = { all: 'all', allset: 'allSettled', race: 'race', any: 'any' }[s.op];
            P[s.dst] = Promise[f](s.ins.map((n) => P[n]));
            return;
        }
        case 'res':
            if (has(s.d))
                R[s.d].res(s.n);
            return;
        case 'rej':
            if (has(s.d))
                R[s.d].rej(s.n);
            return;
        case 'resw':
            if (has(s.d) && has(s.p))
                R[s.d].res(P[s.p]);
            return;
        }
        throw new Error('bad op ' + s.op);
    }

    let ph = 0;
    function step() {
        if (ph < prog.phases.length) {
            prog.phases[ph++].forEach(exec);
            setImmediate(step);
            return;
        }
        // Final states: read through handlers attached after everything ran.
        const states = [];
        for (let n = 0; n < prog.nprom; n++) {
            states[n] = has(n) ? 'pending' : '-';
            if (has(n))
                P[n].then(
                    (v) => (states[n] = renderValue(v)),
                    (e) => (states[n] = '!' + renderReason(e))
                );
        }
        setImmediate(() => {
            if (invalid)
                throw new Error(invalid);
            const text = log.join(' ') + states.join(' ');
            if (/odd\(|(^|[ :=\[,!])u($|[ \],])/.test(text))
                throw new Error('a value with no libvow counterpart: ' + text);
            done(log.join(' '), states.map((s, n) => `p${n}=${s}`).join(' '));
        });
    }
    step();
}

// Checks what the C interpreter relies on: settle targets are deferreds, every
// promise a handler returns, adopts or combines exists when it runs (validated at
// run time by the oracle: a missing one throws).
function check(prog) {
    const visit = (s) => {
        if ((s.op === 'res' || s.op === 'rej' || s.op === 'resw') && !prog.defs.has(s.d))
            throw new Error(`${s.op} p${s.d}: not a deferred`);
    };
    prog.phases.forEach((ph) => ph.forEach(visit));
    prog.handlers.forEach((h) => h.body.forEach(visit));
}

// ------------------------------------------------------------ hand-written

// A small builder: b.p('res 1') appends "pN=res 1" and returns "pN".
class Builder {
    constructor() {
        this.n = 0;
        this.phases = [[]];
        this.obs = [];
    }
    p(expr) {
        const name = `p${this.n++}`;
        this.phases[this.phases.length - 1].push(`${name}=${expr}`);
        return name;
    }
    s(stmt) {
        this.phases[this.phases.length - 1].push(stmt);
    }
    reserve() {
        return `p${this.n++}`;
    }
    phase() {
        this.phases.push([]);
    }
    // A chain of n handlers that log "<tag><i>:<i-1>" one per tick: a clock.
    counter(n, tag) {
        let p = this.p('res 0');
        for (let i = 1; i <= n; i++)
            p = this.p(`then ${p} {${tag}${i}: => ret ${i}} -`);
        return p;
    }
    observe(...ps) {
        this.obs.push(...ps);
    }
    text() {
        let t = this.phases.map((ph) => ph.join('; ')).join(' | ');
        if (this.obs.length)
            t += ' @ ' + this.obs.join(' ');
        return t;
    }
}

function handWritten() {
    const cases = [];
    const add = (name, what, b) => cases.push({ name, what, text: b.text() });
    let b;

    // Issue 11 item 6: a handler returns the pending q; in the same tick another
    // handler attaches a new handler to q and settles q.
    for (const extra of [false, true]) {
        b = new Builder();
        const a = b.p('res 1');
        const q = b.p('def');
        const out = b.p(`then ${a} {ret_q: => retp ${q}} -`);
        b.p(`then ${out} {after_out: => pass} -`);
        const q2 = b.reserve();
        b.p(`then ${a} {attach: ${q2}=then ${q} {later_on_q: => pass} -; res ${q} 7 => ret 0} -`);
        if (extra)
            b.observe(out);
        add(extra ? 'adopt_pending_later_handler_held' : 'adopt_pending_later_handler',
            'item 6: a handler returns pending q, then a handler attached to q later' +
                (extra ? ' (the derived vow is also held)' : ''), b);
    }

    // The same with q settled and the later handler attached from a later phase.
    b = new Builder();
    {
        const a = b.p('res 1');
        const q = b.p('def');
        const out = b.p(`then ${a} {ret_q: => retp ${q}} -`);
        b.p(`then ${out} {after_out: => pass} -`);
        b.phase();
        b.p(`then ${q} {later_on_q: => pass} -`);
        b.s(`res ${q} 5`);
    }
    add('adopt_pending_later_phase', 'item 6 across phases: handler attached to q in a later turn', b);

    // A handler returns a derived promise still pending (its source settles in the same
    // tick), and a handler is attached to it afterwards from inside another handler.
    b = new Builder();
    {
        const a = b.p('res 1');
        const d = b.p('def');
        const q = b.reserve();
        const out = b.p(`then ${a} {make_q: ${q}=then ${d} {q_step: => ret 2} - => retp ${q}} -`);
        b.p(`then ${out} {after_out: => pass} -`);
        const x = b.reserve();
        b.p(`then ${a} {attach: ${x}=then ${q} {later_on_q: => pass} -; res ${d} 1 => ret 0} -`);
        b.counter(6, 't');
    }
    add('adopt_derived_later_handler', 'returns a derived pending promise; a later handler on it', b);

    // Returning an already-settled promise: ECMAScript spends two more jobs
    // (NewPromiseResolveThenableJob, then the reaction) before the derived promise
    // settles. A counter chain shows the ticks.
    b = new Builder();
    {
        const a = b.p('res 1');
        const r = b.p('res 4');
        const out = b.p(`then ${a} {ret_settled: => retp ${r}} -`);
        b.p(`then ${out} {after_out: => pass} -`);
        b.counter(6, 't');
    }
    add('adopt_settled', 'a handler returns an already-fulfilled promise', b);

    b = new Builder();
    {
        const a = b.p('res 1');
        const out = b.p(`then ${a} {ret_new: => retres 3} -`);
        b.p(`then ${out} {after_out: => pass} -`);
        const out2 = b.p(`then ${a} {ret_rej: => retrej 6} -`);
        b.p(`catch ${out2} {after_rej: => pass}`);
        b.counter(6, 't');
    }
    add('adopt_new_settled', 'handlers return Promise.resolve(v) / Promise.reject(k)', b);

    // resolve(deferred, promise) from the top level, with a settled and a pending one.
    b = new Builder();
    {
        const d1 = b.p('def');
        const d2 = b.p('def');
        const s = b.p('res 8');
        const q = b.p('def');
        b.p(`then ${d1} {d1_done: => pass} -`);
        b.p(`then ${d2} {d2_done: => pass} -`);
        b.s(`resw ${d1} ${s}`);
        b.s(`resw ${d2} ${q}`);
        b.p(`then ${q} {q_done: => pass} -`);
        b.counter(6, 't');
        b.phase();
        b.s(`res ${q} 9`);
        b.counter(6, 'u');
    }
    add('resolve_with_top_level', 'resolve(d, settled) and resolve(d, pending) from the top level', b);

    // finally returning nothing: thenFinally returns PromiseResolve(f()).then(() => v),
    // which the derived promise then adopts (two more jobs than then).
    b = new Builder();
    {
        const a = b.p('res 1');
        const f = b.p(`fin ${a} {fin_plain: => pass}`);
        b.p(`then ${f} {after_fin: => pass} -`);
        const e = b.p('rej 2');
        const g = b.p(`fin ${e} {fin_rej: => ret 5}`);
        b.p(`catch ${g} {after_fin_rej: => pass}`);
        b.counter(7, 't');
    }
    add('finally_plain', 'finally returning nothing, on a fulfilled and a rejected promise', b);

    // finally returning a promise: pending (settled later by another chain), settled,
    // rejected, and a throwing finally.
    b = new Builder();
    {
        const a = b.p('res 1');
        const q = b.p('def');
        const f = b.p(`fin ${a} {fin_pending: => retp ${q}}`);
        b.p(`then ${f} {after_pending: => pass} -`);
        const f2 = b.p(`fin ${a} {fin_settled: => retres 3}`);
        b.p(`then ${f2} {after_settled: => pass} -`);
        const f3 = b.p(`fin ${a} {fin_rejected: => retrej 4}`);
        b.p(`catch ${f3} {after_rejected: => pass}`);
        const f4 = b.p(`fin ${a} {fin_throws: => throw 5}`);
        b.p(`catch ${f4} {after_throw: => pass}`);
        const c = b.p('res 0');
        const c1 = b.p(`then ${c} {t1: => ret 1} -`);
        const c2 = b.p(`then ${c1} {t2: res ${q} 2 => ret 2} -`);
        let p = c2;
        for (let i = 3; i <= 8; i++)
            p = b.p(`then ${p} {t${i}: => ret ${i}} -`);
    }
    add('finally_returns', 'finally returning a pending, settled, rejected promise, or throwing', b);

    // Combinators over settled inputs, against a clock.
    b = new Builder();
    {
        const a = b.p('res 1');
        const r = b.p('rej 2');
        const c = b.p('res 3');
        b.p(`then ${r} - {guard_r: => ret 0}`);
        b.p(`then ${b.p(`all ${a} ${c}`)} {all_ok: => pass} -`);
        b.p(`catch ${b.p(`all ${a} ${r}`)} {all_err: => pass}`);
        b.p(`then ${b.p(`allset ${a} ${r} ${c}`)} {allset: => pass} -`);
        b.p(`then ${b.p(`race ${r} ${a}`)} - {race: => pass}`);
        b.p(`then ${b.p(`any ${r} ${c}`)} {any: => pass} -`);
        b.p(`catch ${b.p(`any ${r} ${r}`)} {any_agg: => pass}`);
        b.p(`then ${b.p('all')} {all_none: => pass} -`);
        b.p(`catch ${b.p('any')} {any_none: => pass}`);
        b.counter(4, 't');
    }
    add('combinators_settled', 'all / allSettled / race / any over settled inputs', b);

    // Combinators over pending inputs settled in a later phase and from handlers.
    b = new Builder();
    {
        const d1 = b.p('def');
        const d2 = b.p('def');
        const d3 = b.p('def');
        for (const d of [d1, d2, d3])
            b.p(`then ${d} {g_${d}: => pass} {gr_${d}: => ret 0}`);
        b.p(`then ${b.p(`all ${d1} ${d2} ${d3}`)} {all: => pass} {all_err: => pass}`);
        b.p(`then ${b.p(`allset ${d1} ${d2} ${d3}`)} {allset: => pass} -`);
        b.p(`then ${b.p(`race ${d3} ${d2}`)} {race: => pass} {race_err: => pass}`);
        b.p(`then ${b.p(`any ${d2} ${d1}`)} {any: => pass} {any_err: => pass}`);
        b.counter(3, 't');
        b.phase();
        b.s(`rej ${d2} 4`);
        const c = b.counter(2, 'u');
        b.p(`then ${c} {late: res ${d1} 5; res ${d3} 6 => ret 0} -`);
    }
    add('combinators_pending', 'combinators over pending inputs settled later', b);

    // Two independent chains: the plain then/catch baseline.
    b = new Builder();
    {
        let x = b.p('res 1');
        let y = b.p('rej 2');
        for (let i = 1; i <= 4; i++) {
            x = b.p(`then ${x} {a${i}: => ${i === 2 ? 'throw 3' : 'pass'}} {ax${i}: => ret ${i}}`);
            y = b.p(`then ${y} {b${i}: => ret ${i}} {bx${i}: => pass}`);
        }
    }
    add('two_chains', 'two independent then/catch chains interleave one job per step', b);

    // Two chains where one adopts at every step: exposes the tick count of adoption.
    b = new Builder();
    {
        let x = b.p('res 1');
        for (let i = 1; i <= 3; i++)
            x = b.p(`then ${x} {f${i}: => retres ${i}} -`);
        b.counter(12, 't');
    }
    add('adopt_chain_vs_counter', 'a chain adopting a settled promise at each step, against a clock', b);

    // A loop written as "handle this, then follow the next step": each step's handler
    // returns the next step's promise (a then on a fresh settled promise), 50 deep,
    // interleaved with a counter chain.
    b = new Builder();
    {
        const start = b.p('res 0');
        const steps = 50;
        // Nested from the inside out: the handler of step i creates step i+1.
        let inner = '=> ret 99';
        const names = [];
        for (let i = 0; i < steps; i++)
            names.push([b.reserve(), b.reserve()]);
        for (let i = steps - 1; i >= 0; i--) {
            const [r, s] = names[i];
            inner = `${r}=res ${i}; ${s}=then ${r} {s${i}: ${inner}} - => retp ${s}`;
        }
        const loop = b.p(`then ${start} {loop: ${inner}} -`);
        b.p(`then ${loop} {loop_done: => pass} -`);
        b.counter(120, 't');
    }
    add('follow_loop_50', 'a 50-step "then follow the next step" loop against a clock', b);

    // A handler returning its own derived promise: TypeError (libvow: VOW_ECYCLE).
    b = new Builder();
    {
        const a = b.p('res 1');
        const out = b.reserve();
        b.phases[0].push(`${out}=then ${a} {self: => retp ${out}} -`);
        b.p(`catch ${out} {after_self: => pass}`);
        b.counter(3, 't');
    }
    add('self_resolution', 'a handler returns its own derived promise', b);

    // Handlers attached later to promises settled earlier, at the top level and from a
    // handler; rejection passing through then without handlers.
    b = new Builder();
    {
        const a = b.p('res 1');
        const r = b.p('rej 2');
        const x = b.p(`then ${r} {never: => ret 0} -`);
        const y = b.p(`then ${x} - -`);
        b.phase();
        b.p(`catch ${y} {late_catch: => pass}`);
        const z = b.reserve();
        b.p(`then ${a} {late_attach: ${z}=then ${a} {inner: => pass} - => pass} -`);
        b.p(`then ${a} {sibling: => pass} -`);
    }
    add('attach_late', 'handlers attached to settled promises later, from top level and handlers', b);

    return cases;
}

// ------------------------------------------------------------------ random

function mulberry32(seed) {
    let a = seed >>> 0;
    return () => {
        a = (a + 0x6d2b79f5) >>> 0;
        let t = a;
        t = Math.imul(t ^ (t >>> 15), t | 1);
        t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
        return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
}

// One random program. Invariants the generator keeps (the C interpreter and libvow
// need them to agree with ECMAScript on anything but order):
// - settle targets are deferreds;
// - no promise can wait on itself, even through paths that never happen at run time
//   (ECMAScript leaves such a cycle pending forever; libvow rejects it VOW_ECYCLE):
//   every "waits on" edge (then source, combinator input, adoption) is added to a
//   graph and a choice that would close a cycle is not made;
// - every input of race, any and all also has a then attached before the combinator
//   exists: libvow cancels the losers only a combinator wants (JavaScript cannot);
// - handlers and combinators only use promises that exist when they run (created
//   before at the top level, or earlier in the same handler); only top-level then,
//   catch and finally of a later phase may name a promise a handler may have made.
function randomProgram(rng) {
    const pick = (a) => a[Math.floor(rng() * a.length)];
    const int = (lo, hi) => lo + Math.floor(rng() * (hi - lo + 1));
    const chance = (p) => rng() < p;
    const weighted = (opts) => {
        let sum = 0;
        for (const [w] of opts)
            sum += w;
        let x = rng() * sum;
        for (const [w, v] of opts) {
            if ((x -= w) < 0)
                return v;
        }
        return opts[opts.length - 1][1];
    };
    let np = 0;
    let nh = 0;
    const edges = [];
    const maybe = []; // made inside handlers: may exist in later phases
    const newP = () => {
        edges.push(new Set());
        return np++;
    };
    const reaches = (from, to) => {
        const seen = new Set([from]);
        const stack = [from];
        while (stack.length) {
            const x = stack.pop();
            if (x === to)
                return true;
            for (const y of edges[x]) {
                if (!seen.has(y)) {
                    seen.add(y);
                    stack.push(y);
                }
            }
        }
        return false;
    };

    function handler(scope, out, kind) {
        const id = nh++;
        const inner = { avail: scope.avail.slice(), defs: scope.defs.slice(), depth: scope.depth + 1, top: false };
        // The handler runs after its statement: its own output exists then.
        inner.avail.push(out);
        const body = [];
        const nbody = inner.depth === 1 ? weighted([[4, 0], [4, 1], [2, 2]]) : inner.depth === 2 ? weighted([[6, 0], [3, 1]]) : 0;
        for (let i = 0; i < nbody; i++)
            body.push(stmt(inner));
        const can = inner.avail.filter((p) => !reaches(p, out));
        let ret = weighted([
            [3, 'ret'], [kind === 'fin' ? 3 : 2, 'pass'], [1.5, 'throw'],
            [can.length ? 3 : 0, 'retp'], [1.5, 'retres'], [1, 'retrej'],
        ]);
        let r;
        if (ret === 'retp') {
            const p = pick(can);
            edges[out].add(p);
            r = `retp p${p}`;
        } else if (ret === 'pass') {
            r = 'pass';
        } else {
            r = `${ret} ${int(0, 9)}`;
        }
        return `{h${id}: ${body.length ? body.join('; ') + ' ' : ''}=> ${r}}`;
    }

    function stmt(scope) {
        const w = [
            [scope.top ? 2 : 1, 'res'], [scope.top ? 1 : 0.5, 'rej'], [scope.top ? 2.5 : 1, 'def'],
            [4, 'then'], [1.2, 'catch'], [1.2, 'fin'], [1.5, 'comb'],
            [scope.defs.length ? 3 : 0, 'settle'],
        ];
        const k = scope.avail.length ? weighted(w) : weighted([[2, 'res'], [1, 'rej'], [2, 'def']]);
        if (k === 'settle') {
            const d = pick(scope.defs);
            const how = weighted([[3, 'res'], [1.5, 'rej'], [2.5, 'resw']]);
            if (how === 'resw') {
                const can = scope.avail.filter((p) => !reaches(p, d));
                if (can.length) {
                    const p = pick(can);
                    edges[d].add(p);
                    return `resw p${d} p${p}`;
                }
            }
            return `${how === 'rej' ? 'rej' : 'res'} p${d} ${int(0, 9)}`;
        }
        if (k === 'res' || k === 'rej' || k === 'def') {
            const p = newP();
            scope.avail.push(p);
            if (k === 'def')
                scope.defs.push(p);
            else if (!scope.top)
                maybe.push(p);
            return k === 'def' ? `p${p}=def` : `p${p}=${k} ${int(0, 9)}`;
        }
        if (k === 'then' || k === 'catch' || k === 'fin') {
            // A top-level statement of a later phase may name a maybe-made promise.
            const late = scope.top && scope.phase > 0 && maybe.length && chance(0.3);
            const src = late ? pick(maybe) : pick(scope.avail);
            const p = newP();
            edges[p].add(src);
            let text;
            if (k === 'then') {
                const h1 = chance(0.85) ? handler(scope, p, 'ok') : '-';
                const h2 = chance(0.45) ? handler(scope, p, 'err') : '-';
                text = `p${p}=then p${src} ${h1} ${h2}`;
            } else {
                text = `p${p}=${k} p${src} ${handler(scope, p, k === 'fin' ? 'fin' : 'err')}`;
            }
            // Made from a maybe-made source, p may not exist either.
            if (late)
                maybe.push(p);
            else
                scope.avail.push(p);
            if (!scope.top)
                maybe.push(p);
            return text;
        }
        // comb
        const kind = pick(['all', 'allset', 'race', 'any']);
        const n = weighted([[1, 0], [3, 1], [5, 2], [4, 3]]);
        const ins = [];
        for (let i = 0; i < n; i++)
            ins.push(pick(scope.avail));
        const pre = [];
        if (kind !== 'allset') {
            for (const x of new Set(ins)) {
                const g = newP();
                edges[g].add(x);
                const hid = nh;
                nh += 2;
                pre.push(`p${g}=then p${x} {h${hid}: => pass} {h${hid + 1}: => pass}`);
                if (!scope.top)
                    maybe.push(g);
            }
        }
        const p = newP();
        for (const x of ins)
            edges[p].add(x);
        scope.avail.push(p);
        if (!scope.top)
            maybe.push(p);
        pre.push(`p${p}=${kind}${ins.map((x) => ' p' + x).join('')}`);
        return pre.join('; ');
    }

    // Issue 11 item 6's shape with random surroundings: a handler returns the pending
    // q (a deferred, or a then on one), the derived promise has handlers, and a handler
    // is attached to q later (from another handler, or from the next phase), before or
    // after q's deferred is settled.
    function motif(scope, later) {
        const src = pick(scope.avail);
        const out0 = [];
        const d = newP();
        out0.push(`p${d}=def`);
        let q = d;
        if (chance(0.4)) {
            q = newP();
            edges[q].add(d);
            out0.push(`p${q}=then p${d} {h${nh++}: => ret ${int(0, 9)}} -`);
        }
        const out = newP();
        edges[out].add(src);
        edges[out].add(q);
        out0.push(`p${out}=then p${src} {h${nh++}: => retp p${q}} -`);
        for (let i = int(1, 2); i > 0; i--) {
            const b = newP();
            edges[b].add(out);
            out0.push(`p${b}=then p${out} {h${nh++}: => pass} {h${nh++}: => pass}`);
        }
        const c = newP();
        edges[c].add(q);
        const attach = `p${c}=then p${q} {h${nh++}: => pass} {h${nh++}: => pass}`;
        const settle = `${chance(0.7) ? 'res' : 'rej'} p${d} ${int(0, 9)}`;
        const both = chance(0.6) ? [attach, settle] : [settle, attach];
        if (later && chance(0.5)) {
            later.push(...both);
        } else {
            const src2 = pick(scope.avail);
            const e = newP();
            edges[e].add(src2);
            out0.push(`p${e}=then p${src2} {h${nh++}: ${both.join('; ')} => ret 0} -`);
            maybe.push(c);
        }
        scope.avail.push(d, q, out);
        scope.defs.push(d);
        return out0.join('; ');
    }

    const top = { avail: [], defs: [], depth: 0, top: true, phase: 0 };
    const phases = [];
    const nphases = weighted([[4, 1], [4, 2], [2, 3]]);
    let carry = [];
    for (let ph = 0; ph < nphases; ph++) {
        top.phase = ph;
        const n = ph === 0 ? int(4, 10) : int(1, 4);
        const ss = carry;
        carry = [];
        const at = chance(0.45) ? int(0, n) : -1;
        for (let i = 0; i <= n; i++) {
            if (i === at && top.avail.length)
                ss.push(motif(top, ph + 1 < nphases ? carry : null));
            if (i < n)
                ss.push(stmt(top));
        }
        // A clock in most programs: an independent chain that logs once per job turn,
        // so a difference in how many jobs a step takes shows in the order.
        if (chance(ph === 0 ? 0.7 : 0.3)) {
            let c = newP();
            const clock = [`p${c}=res 0`];
            const ticks = int(3, 12);
            for (let i = 1; i <= ticks; i++) {
                const d = newP();
                edges[d].add(c);
                clock.push(`p${d}=then p${c} {c${ph}_${i}: => ret ${i}} -`);
                c = d;
            }
            ss.splice(int(0, ss.length), 0, clock.join('; '));
        }
        phases.push(ss.join('; '));
    }
    let text = phases.join(' | ');
    const nobs = weighted([[3, 0], [3, 1], [2, 2]]);
    const obs = [];
    for (let i = 0; i < nobs; i++)
        obs.push(`p${pick(top.avail)}`);
    if (obs.length)
        text += ' @ ' + obs.join(' ');
    return text;
}

// ------------------------------------------------------------------- output

function cString(s) {
    return '"' + s.replace(/\\/g, '\\\\').replace(/"/g, '\\"') + '"';
}

// A long string as adjacent C literals, wrapped at statement boundaries.
function cLines(s, indent) {
    const parts = [];
    let cur = '';
    for (const piece of s.split(/(?<= )/)) {
        if (cur.length + piece.length > 86 && cur.length) {
            parts.push(cur);
            cur = '';
        }
        cur += piece;
    }
    if (cur.length || !parts.length)
        parts.push(cur);
    return parts.map((p) => indent + cString(p)).join('\n');
}

function runAll(cases, done) {
    let k = 0;
    const next = () => {
        if (k === cases.length)
            return done();
        const c = cases[k++];
        const prog = parse(c.text);
        check(prog);
        runProgram(prog, (log, states) => {
            c.log = log;
            c.states = states;
            setImmediate(next);
        });
    };
    next();
}

function emit(hand, rand, seed) {
    const out = [];
    out.push('/* SPDX-License-Identifier: MIT */');
    out.push('/*');
    out.push(' * Generated by tests/vow/gen-order.js from Node ' + process.version + ': do not edit.');
    out.push(' * Regenerate with:  node tests/vow/gen-order.js > tests/vow/order-cases.h');
    out.push(' * Each case: name, what it shows, the program (language in gen-order.js), the');
    out.push(' * handler order Node printed, and the final state of every promise in Node.');
    out.push(' */');
    out.push('#ifndef VOW_TEST_ORDER_CASES_H');
    out.push('#define VOW_TEST_ORDER_CASES_H');
    out.push('');
    out.push(`#define ORDER_SEED 0x${seed.toString(16)}u`);
    out.push('');
    const one = (c) => {
        out.push('    {');
        out.push(`        ${cString(c.name)},`);
        out.push(cLines(c.what, '        ') + ',');
        out.push(cLines(c.text, '        ') + ',');
        out.push(cLines(c.log, '        ') + ',');
        out.push(cLines(c.states, '        ') + ',');
        out.push('    },');
    };
    out.push('static const struct order_case order_hand[] = {');
    hand.forEach(one);
    out.push('};');
    out.push('');
    out.push('static const struct order_case order_random[] = {');
    rand.forEach(one);
    out.push('};');
    out.push('');
    out.push('#endif /* VOW_TEST_ORDER_CASES_H */');
    return out.join('\n') + '\n';
}

function main() {
    const SEED = 0x0a11ce11;
    const NRANDOM = 400;
    process.on('unhandledRejection', () => {});
    process.on('rejectionHandled', () => {});
    const hand = handWritten();
    const rng = mulberry32(SEED);
    const rand = [];
    for (let i = 0; i < NRANDOM; i++)
        rand.push({ name: `random_${i}`, what: `seed 0x${SEED.toString(16)} program ${i}`, text: randomProgram(rng) });
    const all = hand.concat(rand);
    runAll(all, () => {
        // Determinism: a second run must print the same.
        const first = all.map((c) => c.log + '\n' + c.states);
        runAll(all, () => {
            all.forEach((c, i) => {
                if (c.log + '\n' + c.states !== first[i])
                    throw new Error(`${c.name}: Node printed two different orders`);
            });
            process.stdout.write(emit(hand, rand, SEED));
        });
    });
}

if (require.main === module)
    main();

module.exports = { parse, runProgram, randomProgram, mulberry32, handWritten };
