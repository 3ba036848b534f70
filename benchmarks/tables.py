"""How each part's rows print: one function a part, `show(rows, results) -> lines`, each block opening with an
empty line; `plain` prints a part that has none of its own."""
import json


def plain(name, rows):
    """A part without a table of its own: its name, then one JSON line a row."""
    return ["", f"{name}:", *(f"  {json.dumps(row)}" for row in (rows if isinstance(rows, list) else [rows]))]


def _mb(value):
    return "-" if value is None else f"{value:.0f}"


def pgd(rows, results):
    lines = ["", f"PGD, 10 steps: images x steps per second (median, {results['clock']} clock); "
             "speedup = torchattacks time / pagutils time",
             f"{'model':<10} {'batch':>5} {'norm':<5} {'pagutils':>9} {'torchatk':>9} {'speedup':>7} "
             f"{'pag bf16':>9} {'bf16 spd':>8} "
             f"{'floor':>9} {'pag/floor':>9} {'pag/ownfl':>9} {'ta/floor':>8} {'ta+cl':>9} {'MB pag':>7} {'MB ta':>7}"]
    for r in rows:
        t, m = r["throughput"], r["peak_memory_mb"]
        lines.append(f"{r['model']:<10} {r['batch']:>5} {r['norm']:<5} {t['pagutils']:>9.0f} {t['torchattacks']:>9.0f} "
                     f"{r['speedup_vs_torchattacks']:>7.2f} {t['pagutils_bf16']:>9.0f} "
                     f"{r['bf16_speedup_vs_torchattacks']:>8.2f} {t['floor']:>9.0f} {r['pagutils_over_floor']:>9.2f} "
                     f"{r['pagutils_over_own_floor']:>9.2f} {r['torchattacks_over_floor']:>8.2f} "
                     f"{t.get('torchattacks_channels_last', float('nan')):>9.0f} {_mb(m['pagutils']):>7} "
                     f"{_mb(m['torchattacks']):>7}")
    lines.append("pag bf16: pagutils with precision='bfloat16' (autocast; its accuracy cost is below); "
                 "floor: bare forward + input backward (the model as built); own floor: the same channels-last; "
                 "ta+cl: torchattacks given channels-last weights (it cannot run "
                 "them with 3-channel inputs: it calls .view on channels-last gradients)")
    return lines


def bf16_cost(c, results):
    lines = ["", f"bfloat16 attacks' cost: accuracy of a {c['model']} ({c['dataset']}, {c['n_train']} training "
             f"images) on {c['n_test']} test images under L2 PGD ({c['steps']} steps)"]
    for r in c["rows"]:
        bf = "-" if r["bfloat16"] is None else f"{r['bfloat16']:.3f}"
        lines.append(f"  eps {r['eps']:<4g} float32 {r['float32']:.3f}  bfloat16 {bf}")
    return lines


def equivalence(rows, results):
    lines = ["", "Same adversarial examples with the random start off (max |pagutils - torchattacks|):"]
    for r in rows:
        lines.append(f"  {r['model']:<10} {r['norm']:<5} {r['dtype']:<8} {r['max_abs_diff']:.2e}"
                     f"  (largest pixel change {r['moved']:.2f})")
    return lines


def training(rows, results):
    lines = ["", "Training, one epoch: images per second"]
    for r in rows:
        s = r["images_per_second"]
        lines.append(f"  {r['model']:<10} n={r['n']:<6} standard {s['standard']:8.0f}  adversarial "
                     f"({r['attack_steps']} steps) {s['adversarial']:7.0f}  (bf16 attack "
                     f"{s['adversarial_bf16_attack']:7.0f})  torchattacks loop "
                     f"{s['adversarial_torchattacks_loop']:7.0f}  speedup {r['adversarial_speedup_vs_torchattacks']:.2f}"
                     + (f"  (compiled attack {s['adversarial_compiled_attack']:7.0f})"
                        if "adversarial_compiled_attack" in s else ""))
    return lines


def constructions(rows, results):
    lines = ["", "Constructions, 20 iterations: images x iterations per second"]
    for r in rows:
        t = r["throughput"]
        lines.append(f"  {r['model']:<10} n={r['n']:<5} robustify {t['robustify']:7.0f} (floor "
                     f"{t['robustify_floor']:7.0f}, ratio {r['robustify_over_floor']:.2f})  D_rand pagutils "
                     f"{t['d_rand_pagutils']:7.0f} torchattacks {t['d_rand_torchattacks']:7.0f} speedup "
                     f"{r['d_rand_speedup_vs_torchattacks']:.2f}"
                     + (f" (compiled {t['d_rand_pagutils_compiled']:7.0f})" if "d_rand_pagutils_compiled" in t else ""))
    return lines


def cpu_memory(rows, results):
    lines = ["", "Peak CPU memory a PGD call adds (RSS, fresh process each):"]
    for pair in rows:
        lines.append("  " + "  ".join(f"{r['model']} batch {r['batch']} {r['variant']} {r['peak_rss_added_mb']:.0f} MB"
                                      for r in pair))
    return lines


def compiled(rows, results):
    lines = ["", "torch.compile, L2 PGD: images x steps per second (compile seconds: the first call)"]
    for r in rows:
        if "compile_error" in r:
            lines.append(f"  {r['model']:<10} batch {r['batch']:<5} not compiled: {r['compile_error']}")
            continue
        t = r["throughput"]
        lines.append(f"  {r['model']:<10} batch {r['batch']:<5} eager {t['pagutils']:8.0f}  compiled "
                     f"{t['pagutils_compiled']:8.0f}  speedup {r['compiled_speedup']:.2f}  own floor "
                     f"{t['floor_channels_last']:8.0f}  compiled floor {t['floor_compiled']:8.0f}  "
                     f"compiled/compiled floor {r['compiled_over_compiled_floor']:.2f}  "
                     f"(compile {r['compile_seconds']:.0f} s)")
    return lines


def floor_profile(rows, results):
    lines = ["", "Where the own floor's CPU time goes (torch.profiler, operators' self time):"]
    for r in rows:
        lines.append(f"  {r['model']:<10} batch {r['batch']:<5} convolutions {r['convolution']:.0%}  their input "
                     f"gradients {r['convolution_backward']:.0%}  everything else {r['other']:.0%}  (without it: "
                     f"at most {r['bound_without_other']:.2f}x faster)")
    return lines


def seeds(rows, results):
    import seeds as seeds_benchmark
    return ["", "Seeds trained together (benchmarks/replicates.py) against one by one, 3 models, 2,000 MNIST "
                "images, 1 epoch:", *("  " + line for line in seeds_benchmark.table(rows))]
