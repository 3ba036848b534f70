"""The full profile (CIFAR-10, ResNet-18 and the papers' settings) runs from the same notebooks.

Every chapter is executed by papermill with `profile=full` on a tiny CIFAR-10 written in CIFAR's own file
format (the real data set is not available offline). Only sizes are shrunk on papermill's command line
(images, epochs, iterations, and the longest sweeps to their two ends, `sweep_ends`); architectures, radii,
step sizes and noise levels stay the full profile's, and the settings are checked against the papers' values
(a shortened sweep in the spec's full profile, the rest as the run recorded them).

The chapters run two at a time, each kernel on one thread (`CONCURRENT`): on 2 cores that takes less time
than one at a time on two threads, because tiny batches keep a second thread mostly idle. The chapters share
one model cache, whose lock builds an artefact that two of them ask for once. What a run computes is not
compared with anything here, so the thread count changes nothing this test reads.
"""
import json
import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from safetensors import safe_open

from cifar_fixture import SITECUSTOMIZE, write_cifar_fixture
from pagutils import cache, experiments, prefill
from pagutils.core.claims import OUTCOMES

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
CONCURRENT = 2  # chapters run at once, each kernel on one thread
# the longest first, so that no long chapter is left to run alone at the end (seconds of one kernel on one thread,
# measured at 311ac25: Chapter 6 104, 3 87, 10 86, 8 82, 1 76, 5 70, 4 62, 9 60, the rest under 20)
LONGEST_FIRST = ("ch06_perceptually_aligned_gradients", "ch03_robustified_datasets", "ch10_four_ways_three_regimes",
                 "ch08_distractor", "ch01_adversarial_examples", "ch05_transferability", "ch04_non_robust_features",
                 "ch09_manifold_real_images")
SOURCE = dict(source_n_train=40, source_epochs=1, n_construct=20, epochs=1, n_test=20)


def sweep_ends(chapter, *names):
    """A sweep's two ends, from the chapter's full profile: every cell still meets a weak and a strong model,
    at a third of the models (Chapter 10 trains 9 ResNet-18s instead of 25)."""
    full = experiments.get(chapter).full
    return {name: [full[name][0], full[name][-1]] for name in names}


CH10 = "ch10_four_ways_three_regimes"
# chapter -> (size overrides, settings that must keep the full profile's (the papers') values)
CHAPTERS = {
    "ch01_adversarial_examples": (dict(n_train=40, n_test=20, epochs=1, attack_steps=1, n_check=10, check_steps=1,
                                       check_restarts=1, apgd_steps=1, seeds=[0, 1]),
                                  dict(dataset="cifar10", train_eps=0.5, eps_linf=[0.0, 2 / 255, 4 / 255, 8 / 255])),
    "ch02_robust_features": (dict(n_samples=20000), dict(eps_list=[0.0, 0.1, 0.25, 0.5, 1.0])),
    "ch03_robustified_datasets": (dict(SOURCE, steps=2, n_curve=10, curve_steps=1, seeds=[1, 2], adv_steps=1,
                                       n_val=10, apgd_steps=1, scale_sizes=[10]),
                                  dict(dataset="cifar10", step_size=0.1, train_eps=0.5, selection_seed=4)),
    "ch04_non_robust_features": (dict(SOURCE, steps=2, seeds=[1, 2], remedy_steps=3, judge_n_train=40,
                                      judge_epochs=1, n_val=20, scale_sizes=[10]),
                                 dict(dataset="cifar10", sweep_eps=[0.25, 0.5, 1.0, 2.0], step_size=0.1)),
    "ch05_transferability": (dict(SOURCE, steps=2, n_transfer=10, transfer_steps=1, seeds=[8, 9],
                                  target_seeds=[10, 11]),
                             dict(dataset="cifar10", eps=0.5, train_eps=0.5,
                                  archs=["vgg16", "googlenet", "resnet18", "densenet121", "resnet50"])),
    "ch06_perceptually_aligned_gradients": (
        dict(n_train=100, epochs=1, n_eval=10, smooth_samples=2, gen_steps=2, cf_steps=2, denoise_steps=2,
             inpaint_steps=2), dict(dataset="cifar10", train_eps=0.5, judge_arch="vgg11")),
    "ch07_off_manifold_theory": (dict(n_train=200, n_eval=50, n_robust=20, epochs=1),
                                 dict(dataset="synthetic", dim=40, robust_eps=[0.15, 0.3, 0.6, 1.0])),
    "ch08_distractor": (dict(n_train=40, n_test=10, epochs=1, n_draws=1, n_seeds=1, pgd_steps=1, n_val=10,
                             **sweep_ends("ch08_distractor", "pgd_eps")),
                        dict(dataset="mnist", arch="resnet18", pgd_eps=[0.5, 1.0, 2.0, 3.0])),
    "ch09_manifold_real_images": (dict(n_train=40, epochs=1, ae_n_train=40, ae_epochs=1, n_eval=6, n_noise=2),
                                  dict(dataset="cifar10", latent_dim=64, train_eps=0.5)),
    "ch10_four_ways_three_regimes": (dict(n_train=20, epochs=1, n_seeds=1, n_test=6, pgd_steps=1,
                                          reference_n_train=40, denoiser_n_train=40, denoiser_epochs=1,
                                          ae_n_train=40, ae_epochs=1, synthetic_n_seeds=2, synthetic_n_train=60,
                                          synthetic_epochs=1, synthetic_n_eval=20,
                                          **sweep_ends(CH10, "lam_gradient_norm", "lam_noise_consistency",
                                                       "sigma_noise_augmentation", "eps_pgd")),
                                     dict(dataset="cifar10", score_sigma=0.5,
                                          eps_pgd=[0.01, 0.1, 0.5, 1.0, 5.0, 10.0])),
}


@pytest.fixture(scope="module")
def full_profile_env(tmp_path_factory):
    """Data (the tiny CIFAR-10 beside the real MNIST files), one model cache shared by the chapters, and the
    kernel's `sitecustomize` that lets torchvision read the fixture."""
    root = tmp_path_factory.mktemp("full")
    write_cifar_fixture(root / "data", n_per_batch=40)
    real = Path(os.environ.get("PAGUTILS_DATA_DIR", ROOT / "data"))
    for name in ("MNIST", "FashionMNIST"):
        if (real / name).exists():
            (root / "data" / name).symlink_to((real / name).resolve())
    (root / "site").mkdir()
    (root / "site" / "sitecustomize.py").write_text(SITECUSTOMIZE)
    env = dict(os.environ, PAGUTILS_DATA_DIR=str(root / "data"), PAG_CACHE_DIR=str(root / "cache"),
               PAG_RESULTS_DIR=str(root / "results"), PAG_PROGRESS="0", PAGUTILS_OFFLINE="1",
               PYTHONPATH=os.pathsep.join([str(root / "site"), os.environ.get("PYTHONPATH", "")]))
    env.pop("MPLBACKEND", None)
    return root, env


def _trained_archs(cache):
    archs = set()
    for path in (cache / "models").glob("*.safetensors"):
        with safe_open(str(path), "pt") as f:
            archs.add(json.loads(f.metadata()["config"]).get("arch"))
    return archs


def _papermill(chapter, root, env):
    """Run `chapter` in the full profile at its tiny sizes; the finished process."""
    sizes, _ = CHAPTERS[chapter]
    notebook = ROOT / "book" / f"{chapter}.ipynb"
    command = [str(BIN / "papermill"), str(notebook), str(root / f"{chapter}.ipynb"), "-p", "profile", "full",
               "--cwd", str(notebook.parent)]
    for name, value in sizes.items():  # a list goes as YAML (-y), so that it stays a list
        command += ["-y", json.dumps({name: value})] if isinstance(value, list) else ["-p", name, str(value)]
    return subprocess.run(command, env=env, capture_output=True, text=True)


@pytest.fixture(scope="module")
def full_profile_runs(full_profile_env, request):
    """chapter -> the future of its papermill run: every selected chapter, `CONCURRENT` at a time, the longest
    first."""
    root, env = full_profile_env
    env = dict(env, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    selected = {item.callspec.params["chapter"] for item in request.session.items
                if getattr(item, "originalname", None) == "test_chapter_runs_in_the_full_profile"}
    order = [c for c in LONGEST_FIRST if c in selected] + sorted(selected - set(LONGEST_FIRST))
    with ThreadPoolExecutor(CONCURRENT) as pool:
        yield {chapter: pool.submit(_papermill, chapter, root, env) for chapter in order}


@pytest.mark.slow
@pytest.mark.parametrize("chapter", list(CHAPTERS))
def test_chapter_runs_in_the_full_profile(chapter, full_profile_env, full_profile_runs):
    root, _ = full_profile_env
    sizes, paper = CHAPTERS[chapter]
    run = full_profile_runs[chapter].result()
    assert run.returncode == 0, (run.stdout + run.stderr)[-4000:]
    results = json.loads((root / "results" / f"{chapter}.json").read_text())
    assert results["profile"] == "full"
    for name, value in sizes.items():
        assert results["settings"][name] == pytest.approx(value), name
    for name, value in paper.items():  # the papers' values: in the run, or in the full profile of a sweep cut short
        kept = experiments.get(chapter).full[name] if name in sizes else results["settings"][name]
        assert kept == pytest.approx(value), name
    if paper.get("dataset") == "cifar10":
        assert "resnet18" in _trained_archs(root / "cache")
    _check_glued_text(root / f"{chapter}.ipynb", results)
    # the run asked the zoo for exactly what prefill prepares, and read every claim its spec declares
    prepared = {cache.config_key(c) for c in prefill.configurations(chapter, "full", sizes)}
    assert set(results["zoo"]) == prepared, "the chapter's zoo requests differ from its spec's (prefill's)"
    spec = experiments.get(chapter)
    assert [c["key"] for c in results["claims"]] == [c.key for c in spec.claims]
    assert all(c["outcome"] in OUTCOMES for c in results["claims"])


GLUE_ROLE = re.compile(r"\{glue:(?:text|md)\}`([A-Za-z0-9_]+)|```\{glue:md\} ([A-Za-z0-9_]+)")


def _check_glued_text(executed, results):
    """Every number the prose quotes ({glue:text}`key`) was glued by this run, and equals the recorded one."""
    cells = json.loads(executed.read_text())["cells"]
    quoted = {role or directive for c in cells if c["cell_type"] == "markdown"
              for role, directive in GLUE_ROLE.findall("".join(c["source"]))}
    shown = {}
    for cell in cells:
        for output in cell.get("outputs", []):
            scrap = output.get("metadata", {}).get("scrapbook")
            if scrap:
                data = {k[len(scrap.get("mime_prefix", "")):]: v for k, v in output["data"].items()}
                shown[scrap["name"]] = data.get("text/markdown", data.get("text/plain"))
    assert quoted <= set(shown), f"quoted in the text but never glued: {sorted(quoted - set(shown))}"
    assert set(results.get("glued", {})) == set(shown), "glued values missing from the results JSON"
    for key, value in results["glued"].items():
        text = shown[key]
        # NaN stands for a value the tiny run cannot measure (one seed has no spread): glued and recorded alike
        assert (text == value) if isinstance(value, str) else float(text) == pytest.approx(value, nan_ok=True), key
