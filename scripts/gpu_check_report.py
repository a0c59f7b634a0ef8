#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""Collects what scripts/gpu-check left in OUT_DIR into OUT_DIR/gpu_check.json and gpu_check.md.

Reads (each optional: a step cut short leaves gaps, shown as such): steps.tsv (step, status,
seconds), machine.txt ("key: value" lines), gpu_tests.json (GoogleTest's JSON report),
quickstart/metrics.csv and quickstart/eval_scores.csv (`mola runs export`), quickstart_time.txt,
mola_bench.json and the other settings' mola_bench_*.json (`mola bench --json`), and the last JSON
line of peft.log and reference.log. Issue 14's targets are checked per setting.
Standard library only: it runs on the GPU machine's Python and on the development machine's.

Usage: gpu_check_report.py OUT_DIR
"""
import csv
import json
import sys
from pathlib import Path


def read_steps(out):
    steps = []
    path = out / 'steps.tsv'
    if path.exists():
        for line in path.read_text().splitlines():
            parts = line.split('\t')
            if len(parts) == 3:
                steps.append({'step': parts[0], 'status': parts[1], 'seconds': int(parts[2])})
    return steps


def read_machine(out):
    machine = {}
    path = out / 'machine.txt'
    if path.exists():
        for line in path.read_text().splitlines():
            key, sep, value = line.partition(': ')
            if sep:  # several GPUs give several "gpu:" lines
                machine[key] = machine[key] + '; ' + value if key in machine else value
    return machine


def read_gpu_tests(out):
    path = out / 'gpu_tests.json'
    if not path.exists():
        return None
    doc = json.loads(path.read_text())
    cases = []
    for suite in doc.get('testsuites', []):
        for case in suite.get('testsuite', []):
            name = suite['name'] + '.' + case['name']
            if case.get('failures'):
                result = 'failed'
            elif case.get('result') == 'SKIPPED':
                result = 'skipped'
            else:
                result = 'passed'
            first = case.get('failures', [{}])[0].get('failure', '') if case.get('failures') else ''
            cases.append({'name': name, 'result': result, 'time': case.get('time', ''),
                          'failure': first.strip().splitlines()[0] if first.strip() else ''})
    counts = {r: sum(c['result'] == r for c in cases) for r in ('passed', 'failed', 'skipped')}
    return {'counts': counts, 'cases': cases}


def read_quickstart(out):
    metrics = out / 'quickstart' / 'metrics.csv'
    if not metrics.exists():
        return None
    loss = {}
    tokens = []
    with metrics.open() as f:
        for row in csv.DictReader(f):
            if row['name'] == 'loss':
                loss[int(row['step'])] = float(row['value'])
            elif row['name'] == 'tokens_per_s':
                tokens.append(float(row['value']))
    q = {'steps': max(loss) if loss else 0,
         'first_loss': loss[min(loss)] if loss else None,
         'last_loss': loss[max(loss)] if loss else None,
         'median_tokens_per_s': sorted(tokens)[len(tokens) // 2] if tokens else None}
    scores = out / 'quickstart' / 'eval_scores.csv'
    if scores.exists():
        with scores.open() as f:
            rows = list(csv.DictReader(f))
        if rows:
            last = max(rows, key=lambda r: int(r['step']))
            q['eval'] = {'step': int(last['step']), 'accuracy': float(last['accuracy']),
                         'n': int(last['n']), 'ci_low': float(last['ci_low']),
                         'ci_high': float(last['ci_high'])}
    timing = out / 'quickstart_time.txt'
    if timing.exists():
        q['wall_s'] = int(timing.read_text().split()[1])
    return q


def last_json_line(path):
    if not path.exists():
        return None
    for line in reversed(path.read_text(errors='replace').splitlines()):
        line = line.strip()
        if line.startswith('{'):
            try:
                return json.loads(line)
            except json.JSONDecodeError:
                return None
    return None


def ratio(a, b):
    return round(a / b, 3) if a is not None and b else None


# The settings of issue 14 beside the main one (batch 8 x seq 256): step, file, what differs.
SETTINGS = [('bench-graph', 'mola_bench_graph.json', 'batch 8 x seq 256, each step one CUDA graph'),
            ('bench-batch1', 'mola_bench_batch1.json', 'batch 1 x seq 256'),
            ('bench-batch1-graph', 'mola_bench_batch1_graph.json',
             'batch 1 x seq 256, each step one CUDA graph'),
            ('bench-seq1024', 'mola_bench_seq1024.json', 'batch 2 x seq 1024'),
            ('bench-seq4096', 'mola_bench_seq4096.json', 'batch 1 x seq 4096')]


def read_json(path):
    return json.loads(path.read_text()) if path.exists() else None


def field(bench, name, key):
    for v in (bench or {}).get('variants', []):
        if v['name'] == name:
            return v.get(key)
    return None


def target(name, value, at_least, limit):
    passed = None if value is None else (value >= limit if at_least else value <= limit)
    return {'name': name, 'value': None if value is None else round(value, 3),
            'target': ('>= ' if at_least else '<= ') + f'{limit:.2f}', 'pass': passed}


def issue_targets(bench):
    """Issue 14's goals that one bench run measures."""
    return [target('mola-2468 / lora-r8 tokens/s', ratio(field(bench, 'mola-2468', 'tokens_per_s'),
                                                        field(bench, 'lora-r8', 'tokens_per_s')),
                   True, 0.90),
            target('mola-2468 MFU', field(bench, 'mola-2468', 'mfu'), True, 0.35),
            target('lora-r8 / base tokens/s', ratio(field(bench, 'lora-r8', 'tokens_per_s'),
                                                    field(bench, 'base', 'tokens_per_s')), True, 0.85),
            target('mola-2468 / lora-equal peak memory',
                   ratio(field(bench, 'mola-2468', 'peak_mem_mb'),
                         field(bench, 'lora-equal', 'peak_mem_mb')), False, 1.10)]


def bench_section(out):
    mola = read_json(out / 'mola_bench.json')
    reference = last_json_line(out / 'reference.log')
    peft = last_json_line(out / 'peft.log')

    def tps(name):
        return field(mola, name, 'tokens_per_s')

    comparisons = [
        ('mola-2468 / reference MoLA 2-4-6-8 (tokens/s)', tps('mola-2468'),
         (reference or {}).get('tokens_per_s')),
        ('mola-2468 / reference MoLA 2-4-6-8 (peak memory)',
         field(mola, 'mola-2468', 'peak_mem_mb'), (reference or {}).get('peak_mem_mb')),
        ('mola-2468 / transformers+PEFT LoRA r 8 (tokens/s)', tps('mola-2468'),
         (peft or {}).get('tokens_per_s')),
        ('lora-r8 / transformers+PEFT LoRA r 8 (tokens/s)', tps('lora-r8'),
         (peft or {}).get('tokens_per_s')),
    ]
    targets = issue_targets(mola) + [
        target('mola-2468 / reference MoLA (tokens/s)',
               ratio(tps('mola-2468'), (reference or {}).get('tokens_per_s')), True, 10.0),
        target('mola-2468 / transformers+PEFT LoRA r 8 (tokens/s)',
               ratio(tps('mola-2468'), (peft or {}).get('tokens_per_s')), True, 1.30)]
    settings = []
    for step, file, label in SETTINGS:
        bench = read_json(out / file)
        settings.append({'step': step, 'label': label, 'mola': bench,
                         'targets': issue_targets(bench)})
    return {'mola': mola, 'reference': reference, 'peft': peft, 'targets': targets,
            'settings': settings,
            'comparisons': [{'name': n, 'value': ratio(a, b)} for n, a, b in comparisons]}


def fmt(value, digits=0):
    if value is None:
        return 'n/a'
    if isinstance(value, (int, float)):
        return f'{value:,.{digits}f}'
    return str(value)


def percent(value):
    return 'n/a' if value is None else f'{100 * value:.1f}%'


def variant_rows(bench):
    rows = [f"| mola bench {v['name']} | {fmt(v.get('trainable_params'))} | "
            f"{fmt(v.get('tokens_per_s'))} | {fmt(v.get('ms_per_step'))} | {percent(v.get('mfu'))} | "
            f"{fmt(v.get('peak_mem_mb'))} |" for v in (bench or {}).get('variants', [])]
    rows += [f"| mola bench {f['name']} | failed: {f['error']} | | | | |"
             for f in (bench or {}).get('failed', [])]
    return rows if bench is not None else ['| mola bench | not run | | | | |']


def target_rows(targets):
    rows = []
    for t in targets:
        result = 'n/a' if t['pass'] is None else ('PASS' if t['pass'] else 'FAIL')
        rows.append(f"| {t['name']} | {fmt(t['value'], 3)} | {t['target']} | {result} |")
    return rows


TABLE = ['| run | trainable | tokens/s | ms/step | MFU | peak MB |', '|---|---:|---:|---:|---:|---:|']
TARGETS = ['| issue 14 target | value | target | result |', '|---|---:|---|---|']


def tests_lines(tests):
    if tests is None:
        return ['not run']
    c = tests['counts']
    return [f"{c['passed']} passed, {c['failed']} failed, {c['skipped']} skipped", ''] + [
        f"- {t['name']}: {t['result']}" + (f" ({t['failure']})" if t['failure'] else '')
        for t in tests['cases']]


def quickstart_lines(q):
    if q is None:
        return ['not run']
    e = q.get('eval')
    return [f"{q['steps']} steps in {fmt(q.get('wall_s'))} s (base preparation included), "
            f"loss {fmt(q['first_loss'], 3)} -> {fmt(q['last_loss'], 3)}, median "
            f"{fmt(q['median_tokens_per_s'])} tokens/s"
            + (f"; accuracy {e['accuracy']:.3f} on {e['n']} held-out questions "
               f"(95% interval {e['ci_low']:.3f}-{e['ci_high']:.3f}) at step {e['step']}"
               if e else '')]


def bench_lines(b):
    lines = ['', '## llama2-7b shape, bf16, batch 8 x seq 256', ''] + TABLE + variant_rows(b['mola'])
    for label, r, trainable in (('mola_reference.py MoLA 2-4-6-8 (loop)', b['reference'], 'trainable_params'),
                                ('peft_lora.py LoRA r 8', b['peft'], 'trainable')):
        if r is None:
            lines.append(f'| {label} | not run | | | | |')
        else:
            lines.append(f"| {label} | {fmt(r.get(trainable))} | {fmt(r.get('tokens_per_s'))} | "
                         f"{fmt(r.get('ms_per_step'))} | | {fmt(r.get('peak_mem_mb'))} |")
    lines += ['', '| ratio | value | target | result |', '|---|---:|---|---|']
    for r in (b['mola'] or {}).get('ratios', []):
        result = 'n/a' if r.get('pass') is None else ('PASS' if r['pass'] else 'FAIL')
        lines.append(f"| {r['label']} | {fmt(r.get('value'), 3)} | {r['target']} | {result} |")
    for r in b['comparisons']:
        lines.append(f"| {r['name']} | {fmt(r['value'], 3)} | | |")
    lines += [''] + TARGETS + target_rows(b['targets'])
    for s in b['settings']:
        lines += ['', f"## llama2-7b shape, bf16, {s['label']} ({s['step']})", '']
        if s['mola'] is None:
            lines.append('not run')
        else:
            lines += TABLE + variant_rows(s['mola']) + [''] + TARGETS + target_rows(s['targets'])
    return lines


def markdown(doc):
    m = doc['machine']
    lines = ['# scripts/gpu-check', '',
             f"{m.get('date', '?')}, commit {m.get('commit', '?')}; {m.get('gpu', 'no GPU listed')}; "
             f"{m.get('python', '?')}; {m.get('compiler', '?')}", '',
             '| step | status | seconds |', '|---|---|---:|']
    lines += [f"| {s['step']} | {s['status']} | {s['seconds']} |" for s in doc['steps']]
    lines += ['', '## gpu tests', ''] + tests_lines(doc['gpu_tests'])
    lines += ['', '## quickstart on CUDA (experiments/quickstart.json, model.device=cuda)', '']
    lines += quickstart_lines(doc['quickstart'])
    lines += bench_lines(doc['bench'])
    return '\n'.join(lines) + '\n'


def main(argv):
    if len(argv) != 2:
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    out = Path(argv[1])
    if not out.is_dir():
        print(f'gpu_check_report: {out} is not a directory', file=sys.stderr)
        return 2
    doc = {'machine': read_machine(out), 'steps': read_steps(out), 'gpu_tests': read_gpu_tests(out),
           'quickstart': read_quickstart(out), 'bench': bench_section(out)}
    (out / 'gpu_check.json').write_text(json.dumps(doc, indent=2) + '\n')
    (out / 'gpu_check.md').write_text(markdown(doc))
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
