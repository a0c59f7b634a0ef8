#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""scripts/gpu-check without a GPU: its argument checks, the budget that skips steps, and the report
writer (scripts/gpu_check_report.py) on hand-made inputs whose table and ratios are worked out here.

Usage: gpu_check_test.py REPO_ROOT SCRATCH_DIR
"""
import json
import shutil
import subprocess
import sys
import unittest
from pathlib import Path

ROOT = Path(sys.argv[1]).resolve() if len(sys.argv) > 1 else Path(__file__).resolve().parents[2]
SCRATCH = Path(sys.argv[2]) if len(sys.argv) > 2 else Path('/tmp/gpu_check_test')


def run(*args):
    return subprocess.run([str(ROOT / 'scripts' / 'gpu-check'), *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


def fresh(name):
    d = SCRATCH / name
    shutil.rmtree(d, ignore_errors=True)
    d.mkdir(parents=True)
    return d


class Arguments(unittest.TestCase):
    def test_out_dir_is_required(self):
        r = run()
        self.assertEqual(r.returncode, 2)
        self.assertIn('OUT_DIR is missing', r.stderr)

    def test_bad_values_are_refused_with_the_option_named(self):
        out = str(fresh('bad'))
        for args, message in ((['--budget', 'soon'], '--budget must be whole seconds'),
                              (['--jobs', '0'], '--jobs must be a positive number'),
                              (['--skip', 'build,lunch'], '--skip: unknown step lunch'),
                              (['--frobnicate'], 'unknown option --frobnicate'),
                              (['second_out'], 'one OUT_DIR only')):
            r = run(out, *args)
            self.assertEqual(r.returncode, 2, args)
            self.assertIn(message, r.stderr, args)

    def test_dry_run_prints_the_prepared_commands(self):
        r = run(str(fresh('dry')), '--dry-run', '--peers', '/opt/peers')
        self.assertEqual(r.returncode, 0, r.stderr)
        # (after `env LD_LIBRARY_PATH=...` when .gpu-check/debs holds the carried packages)
        self.assertIn('env CUBLAS_WORKSPACE_CONFIG=:4096:8 build/cuda/tests/mola_gpu_tests '
                      '--gtest_output=json:', r.stdout)
        self.assertIn('[build] configure_and_build', r.stdout)
        self.assertIn('build/cuda/app/cli/mola bench --device cuda --dtype bf16 '
                      '--shape llama2-7b --batch 8 --json', r.stdout)
        self.assertIn('[peft] python3 /opt/peers/peft_lora.py --shape llama2-7b --rank 8 '
                      '--batch 8 --seq 256', r.stdout)
        self.assertIn('[reference] python3 /opt/peers/mola_reference.py --device cuda --dtype '
                      'bf16 --shape llama2-7b --batch 8', r.stdout)

    def test_no_budget_skips_every_step_and_still_reports(self):
        out = fresh('budget')
        r = run(str(out), '--budget', '0', '--peers', str(out))
        self.assertEqual(r.returncode, 1, r.stderr)  # nothing ran: not a success
        steps = {line.split('\t')[0]: line.split('\t')[1]
                 for line in (out / 'steps.tsv').read_text().splitlines()}
        self.assertEqual(steps, {'build': 'skipped: 0 s left, needs about 60 s',
                                 'tests': 'skipped: no build', 'quickstart': 'skipped: no build',
                                 'bench': 'skipped: no build',
                                 'peft': 'skipped: 0 s left, needs about 40 s',
                                 'reference': 'skipped: 0 s left, needs about 60 s',
                                 'bench-graph': 'skipped: no build',
                                 'bench-batch1': 'skipped: no build',
                                 'bench-batch1-graph': 'skipped: no build',
                                 'bench-seq1024': 'skipped: no build',
                                 'bench-seq4096': 'skipped: no build'})
        md = (out / 'gpu_check.md').read_text()
        self.assertIn('| build | skipped: 0 s left, needs about 60 s | 0 |', md)
        self.assertIn('| bench | skipped: no build | 0 |', md)


def write_fake_outputs(out):
    (out / 'steps.tsv').write_text('build\tok\t58\ntests\tfailed (exit 1)\t21\n'
                                   'quickstart\tok\t40\nbench\tok\t150\npeft\tok\t30\n'
                                   'reference\ttimed out after 77 s\t77\n')
    (out / 'machine.txt').write_text('date: 2026-12-04T10:00:00Z\ncommit: abc123\n'
                                     'gpu: NVIDIA H200, 143771 MiB, 570.1\n'
                                     'python: python3 torch 2.11.0+cu130 cuda 13.0\n'
                                     'compiler: g++ 13.3.0\n')
    (out / 'gpu_tests.json').write_text(json.dumps({'testsuites': [
        {'name': 'LlamaModelGpu', 'testsuite': [
            {'name': 'A', 'result': 'COMPLETED', 'time': '0.5s'},
            {'name': 'B', 'result': 'COMPLETED', 'time': '0.1s',
             'failures': [{'failure': 'x.cpp:3\nExpected equality', 'type': ''}]}]},
        {'name': 'TrainerGpu', 'testsuite': [
            {'name': 'C', 'result': 'SKIPPED', 'time': '0s'}]}]}))
    q = out / 'quickstart'
    q.mkdir()
    (q / 'metrics.csv').write_text('step,name,value\n1,loss,1.6\n1,tokens_per_s,1000\n'
                                   '2,loss,0.9\n2,tokens_per_s,3000\n3,loss,0.25\n'
                                   '3,tokens_per_s,2000\n')
    (q / 'eval_scores.csv').write_text('step,benchmark,split,protocol,accuracy,n,ci_low,ci_high\n'
                                       '2,opposite,eval,likelihood,0.5,200,0.43,0.57\n'
                                       '3,opposite,eval,likelihood,0.7,200,0.633,0.759\n')
    (out / 'quickstart_time.txt').write_text('wall_s 40\n')
    (out / 'mola_bench.json').write_text(json.dumps({
        'variants': [
            {'name': 'base', 'tokens_per_s': 16000.0, 'ms_per_step': 128.0, 'peak_mem_mb': 20000.0,
             'trainable_params': 0},
            {'name': 'lora-r8', 'tokens_per_s': 12000.0, 'ms_per_step': 170.7,
             'peak_mem_mb': 21000.0, 'trainable_params': 19988480},
            {'name': 'mola-2468', 'tokens_per_s': 9000.0, 'ms_per_step': 227.6,
             'peak_mem_mb': 24000.0, 'trainable_params': 105635840, 'mfu': 0.36}],
        'ratios': [{'name': 'mola_over_base_time', 'label': 'mola-2468 / base step time',
                    'value': 1.778, 'target': '<= 1.35', 'pass': False},
                   {'name': 'mola_over_loop_tokens', 'label': 'mola-2468 / mola-2468-loop tokens/s',
                    'value': None, 'target': '>= 3.00', 'pass': None}]}))
    (out / 'peft.log').write_text('loading...\n{"peer": "transformers+peft", "tokens_per_s": 8000.0, '
                                  '"ms_per_step": 256.0, "peak_mem_mb": 28846, '
                                  '"trainable": 19988480}\n')
    (out / 'reference.log').write_text('Traceback: killed\n')
    # One more setting: a graphed run with a variant that failed.
    (out / 'mola_bench_graph.json').write_text(json.dumps({
        'variants': [
            {'name': 'base', 'tokens_per_s': 20000.0, 'ms_per_step': 102.4, 'peak_mem_mb': 20000.0,
             'trainable_params': 0, 'mfu': 0.5},
            {'name': 'lora-r8', 'tokens_per_s': 16000.0, 'ms_per_step': 128.0,
             'peak_mem_mb': 21000.0, 'trainable_params': 19988480, 'mfu': 0.4},
            {'name': 'mola-2468', 'tokens_per_s': 15200.0, 'ms_per_step': 134.7,
             'peak_mem_mb': 24000.0, 'trainable_params': 105635840, 'mfu': 0.38}],
        'failed': [{'name': 'lora-equal', 'error': 'bench: variant lora-equal failed (killed)'}]}))


class Report(unittest.TestCase):
    def test_fake_inputs_give_the_worked_out_table(self):
        out = fresh('report')
        write_fake_outputs(out)
        r = subprocess.run([sys.executable, str(ROOT / 'scripts' / 'gpu_check_report.py'), str(out)],
                           capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        doc = json.loads((out / 'gpu_check.json').read_text())
        self.assertEqual(doc['gpu_tests']['counts'], {'passed': 1, 'failed': 1, 'skipped': 1})
        q = doc['quickstart']
        self.assertEqual((q['steps'], q['first_loss'], q['last_loss']), (3, 1.6, 0.25))
        self.assertEqual(q['median_tokens_per_s'], 2000.0)  # of 1000, 3000, 2000
        self.assertEqual(q['eval']['accuracy'], 0.7)        # the last evaluation
        ratios = {c['name']: c['value'] for c in doc['bench']['comparisons']}
        self.assertEqual(ratios['mola-2468 / transformers+PEFT LoRA r 8 (tokens/s)'], 1.125)
        self.assertEqual(ratios['lora-r8 / transformers+PEFT LoRA r 8 (tokens/s)'], 1.5)
        self.assertIsNone(ratios['mola-2468 / reference MoLA 2-4-6-8 (tokens/s)'])  # timed out
        md = (out / 'gpu_check.md').read_text()
        for line in ('| reference | timed out after 77 s | 77 |',
                     '1 passed, 1 failed, 1 skipped',
                     '- LlamaModelGpu.B: failed (x.cpp:3)',
                     '3 steps in 40 s (base preparation included), loss 1.600 -> 0.250, median '
                     '2,000 tokens/s; accuracy 0.700 on 200 held-out questions (95% interval '
                     '0.633-0.759) at step 3',
                     '| mola bench mola-2468 | 105,635,840 | 9,000 | 228 | 36.0% | 24,000 |',
                     '| mola bench base | 0 | 16,000 | 128 | n/a | 20,000 |',
                     '| peft_lora.py LoRA r 8 | 19,988,480 | 8,000 | 256 | | 28,846 |',
                     '| mola_reference.py MoLA 2-4-6-8 (loop) | not run | | | | |',
                     # issue 14's targets: 9,000 / 12,000 = 0.75; 12,000 / 16,000 = 0.75.
                     '| mola-2468 / lora-r8 tokens/s | 0.750 | >= 0.90 | FAIL |',
                     '| mola-2468 MFU | 0.360 | >= 0.35 | PASS |',
                     '| lora-r8 / base tokens/s | 0.750 | >= 0.85 | FAIL |',
                     '| mola-2468 / lora-equal peak memory | n/a | <= 1.10 | n/a |',
                     '| mola-2468 / transformers+PEFT LoRA r 8 (tokens/s) | 1.125 | >= 1.30 | FAIL |',
                     # the graphed setting: 15,200 / 16,000 = 0.95; 16,000 / 20,000 = 0.8.
                     '## llama2-7b shape, bf16, batch 8 x seq 256, each step one CUDA graph '
                     '(bench-graph)',
                     '| mola bench lora-equal | failed: bench: variant lora-equal failed (killed) '
                     '| | | | |',
                     '| mola-2468 / lora-r8 tokens/s | 0.950 | >= 0.90 | PASS |',
                     '| lora-r8 / base tokens/s | 0.800 | >= 0.85 | FAIL |',
                     '## llama2-7b shape, bf16, batch 1 x seq 4096 (bench-seq4096)\n\nnot run',
                     '| mola-2468 / base step time | 1.778 | <= 1.35 | FAIL |',
                     '| mola-2468 / mola-2468-loop tokens/s | n/a | >= 3.00 | n/a |',
                     '| mola-2468 / transformers+PEFT LoRA r 8 (tokens/s) | 1.125 | | |'):
            self.assertIn(line + '\n', md)

    def test_an_empty_folder_reports_nothing_run(self):
        out = fresh('empty')
        r = subprocess.run([sys.executable, str(ROOT / 'scripts' / 'gpu_check_report.py'), str(out)],
                           capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        md = (out / 'gpu_check.md').read_text()
        self.assertIn('## gpu tests\n\nnot run\n', md)
        self.assertIn('| mola bench | not run | | | | |', md)


if __name__ == '__main__':
    unittest.main(argv=sys.argv[:1], verbosity=2)
