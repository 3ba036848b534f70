"""Has the attack converged? Robust accuracy under an attack is an upper bound: a stronger attack can only lower it.

A chapter reads its robustness claims with `robust_ladder`: a ladder of attacks of growing strength on the same
images, each run only on the images that every weaker rung failed to break (as AutoAttack does), so that the last
rung's accuracy is the per-example worst case over all of them:

1. the chapter's own PGD (`attack`, e.g. 10 steps, the curves' attack);
2. PGD with many more steps and random restarts (`strong`);
3. APGD with the cross-entropy loss and 4. APGD with the difference-of-logits-ratio loss, the two white-box
   components of AutoAttack (Croce & Hein 2020), from torchattacks, the library the field uses for them.

When the last rungs lower the accuracy by little, the attack has converged at this radius; the gap between rung 1
and the last says how much the chapter's own attack overstates robustness. torchattacks 3.5.1 pins an old
`requests`, so `make` installs it without its dependencies (`requirements-attacks.lock`); where it is missing,
the APGD rungs raise an error saying how to install it. Introduced in Chapter 1.
"""
from dataclasses import dataclass

import torch

from . import attacks, cache, checks
from .models import evaluating
from .progress import progress

RUNGS = ("pgd", "pgd_restarts", "apgd_ce", "apgd_dlr")


@dataclass(frozen=True)
class Ladder:
    """The attacks of `robust_ladder`, weakest first: `attack` (the chapter's PGD), `strong` (PGD with more steps
    and restarts), then APGD-CE and APGD-DLR with `apgd_steps` iterations and `apgd_restarts` restarts each (0
    steps leaves them out). The radius is `robust_ladder`'s; the attacks' own `eps` is not used. Checked here, once.
    Introduced in Chapter 1."""
    attack: attacks.Attack
    strong: attacks.Attack
    apgd_steps: int = 50
    apgd_restarts: int = 1

    def __post_init__(self):
        where = "Ladder"
        for name in ("attack", "strong"):
            if not isinstance(getattr(self, name), attacks.Attack):
                checks.fail(where, name, "be a pagutils.core.attacks.Attack", getattr(self, name),
                            error=checks.ArgumentTypeError)
        if self.attack.norm != self.strong.norm:
            checks.fail(where, "attack and strong", "attack in one norm",
                        got=f"{self.attack.norm!r} and {self.strong.norm!r}")
        if self.attack.targeted or self.strong.targeted or self.attack.budget != "example" \
                or self.strong.budget != "example":
            checks.fail(where, "attack and strong", "be untargeted attacks with budget 'example' (robust accuracy "
                        "needs them)", got=f"attack targeted={self.attack.targeted}, budget={self.attack.budget!r} "
                        f"and strong targeted={self.strong.targeted}, budget={self.strong.budget!r}")
        checks.integer(self.apgd_steps, "apgd_steps", where, low=0)
        checks.integer(self.apgd_restarts, "apgd_restarts", where, low=1)

    @property
    def labels(self) -> list:
        """A reader's name for every rung, weakest first."""
        names = [f"PGD {self.attack.steps} steps",
                 f"+ PGD {self.strong.steps} steps x {self.strong.restarts} restarts"]
        if self.apgd_steps:
            names += [f"+ APGD-CE {self.apgd_steps} steps", f"+ APGD-DLR {self.apgd_steps} steps"]
        return names

    def settings(self) -> dict:
        """Every setting that changes the ladder's numbers (a cache key's part)."""
        def fields(a):
            return dict(norm=a.norm, steps=a.steps, restarts=a.restarts, random_start=a.random_start,
                        step_size=None if a.step_size is None else float(a.step_size), precision=a.precision)
        return dict(attack=fields(self.attack), strong=fields(self.strong), apgd_steps=self.apgd_steps,
                    apgd_restarts=self.apgd_restarts, torchattacks=_torchattacks_version() if self.apgd_steps else None)


def _torchattacks():
    try:
        import torchattacks
    except ImportError as error:
        raise ImportError("pagutils.core.convergence: the APGD rungs come from torchattacks, which is not installed. "
                          "`make setup` installs it; elsewhere: pip install --no-deps torchattacks==3.5.1 scipy "
                          "(--no-deps: torchattacks pins an old requests that breaks Sphinx). Ladder(apgd_steps=0) "
                          "leaves the APGD rungs out.") from error
    return torchattacks


def _torchattacks_version() -> str:
    return _torchattacks().__version__


def apgd(model, x, y, attack: attacks.Attack, loss: str = "ce", seed: int = 0) -> torch.Tensor:
    """Adversarial examples of `x` (labels `y`) by APGD (Croce & Hein 2020) with the `loss` 'ce' or 'dlr', from
    torchattacks, in the ball of `attack` (its `norm` and `eps`) with its `steps` and `restarts` (its step size is
    APGD's own, adapted as it goes). torchattacks seeds torch's global generator; this function restores it, so
    that the attack changes no later random draw. Introduced in Chapter 1."""
    where = "convergence.apgd"
    if not isinstance(attack, attacks.Attack) or attack.eps is None:
        checks.fail(where, "attack", "be a pagutils.core.attacks.Attack with a radius, e.g. Attack('l2', eps=1.0, "
                    "steps=50)", attack, error=checks.ArgumentTypeError)
    checks.one_of(loss, ("ce", "dlr"), "loss", where)
    checks.radius(attack.eps, "attack.eps", where, allow_zero=False)
    ta = _torchattacks()
    with torch.random.fork_rng(devices=[]), evaluating(model):
        apgd_attack = ta.APGD(model, norm="L2" if attack.norm == "l2" else "Linf", eps=float(attack.eps),
                              steps=attack.steps, n_restarts=attack.restarts, seed=seed, loss=loss)
        return apgd_attack(x, y).detach()


def robust_ladder(model, data, eps: float, ladder: Ladder, batch_size: int = 500, seed: int = 0,
                  show_progress: bool = True) -> list:
    """Robust accuracy at radius `eps` after every rung of `ladder` (a list, weakest first, one value per
    `ladder.labels`): the share of `data` that is classified correctly and that no rung so far breaks. Every rung
    attacks only the images the rungs before it left standing, so the last value is the per-example worst case over
    all the attacks. Non-increasing by construction.

    A model that carries its `config` (as every zoo model does) has its ladder cached (`cache.cached_values`),
    keyed by that config, digests of its weights and of `data`, `eps` and every setting of the ladder. Introduced
    in Chapter 1."""
    where = "robust_ladder"
    if not isinstance(ladder, Ladder):
        checks.fail(where, "ladder", "be a pagutils.core.convergence.Ladder", ladder, error=checks.ArgumentTypeError)
    checks.nonempty(data, "data", where)
    checks.radius(eps, "eps", where, allow_zero=False)
    checks.integer(batch_size, "batch_size", where)
    checks.images(data.x, "data.x", where)
    num_classes = checks.model_logits(model, data.x, "model", where)
    checks.labels(data.y, "data.y", where, num_classes=num_classes)
    if ladder.apgd_steps:
        _torchattacks()  # fail before any work when it is missing
        if num_classes < 3:
            checks.fail(where, "model", "have at least 3 classes for APGD-DLR (its loss compares the three largest "
                        "logits; use Ladder(apgd_steps=0) without APGD)", got=f"{num_classes} classes")

    def build():
        return _ladder(model, data, float(eps), ladder, batch_size, seed, show_progress)

    if not isinstance(getattr(model, "config", None), dict):
        return build()
    key = dict(evaluation="robust_ladder", model=model.config, weights=cache.tensor_digest(model.state_dict()),
               data=cache.tensor_digest({"x": data.x, "y": data.y}), eps=float(eps), ladder=ladder.settings(),
               batch_size=batch_size, seed=seed)
    return cache.cached_values("evaluations", key, build)[0]


def _ladder(model, data, eps, ladder, batch_size, seed, show_progress):
    generator = torch.Generator().manual_seed(seed)
    standing = attacks.predict(model, data.x) == data.y  # correct and unbroken so far
    rungs = [lambda x, y: attacks.pgd(model, x, y, ladder.attack.at(eps), generator=generator),
             lambda x, y: attacks.pgd(model, x, y, ladder.strong.at(eps), generator=generator)]
    if ladder.apgd_steps:
        ball = attacks.Attack(ladder.attack.norm, eps=eps, steps=ladder.apgd_steps, restarts=ladder.apgd_restarts)
        rungs += [lambda x, y, loss=loss: apgd(model, x, y, ball, loss, seed) for loss in ("ce", "dlr")]
    accuracies = []
    for rung, label in zip(rungs, progress(ladder.labels, desc=f"attack ladder eps={eps:g}",
                                           disable=not show_progress)):
        index = standing.nonzero().flatten()
        for chunk in index.split(batch_size) if len(index) else ():  # (an empty index splits into one empty chunk)
            x_adv = rung(data.x[chunk], data.y[chunk])
            standing[chunk] = attacks.predict(model, x_adv) == data.y[chunk]
        accuracies.append(standing.float().mean().item())
    return accuracies
