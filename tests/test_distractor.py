"""The distractor dataset (a digit beside a fixed letter) and the off-manifold measurements."""
import pytest
import torch

from pagutils import data, distractor, models


@pytest.fixture(scope="module")
def digits():
    return data.load("mnist", "test", n=200, seed=3, device="cpu")


def test_letter_is_rendered_in_unit_range():
    a = distractor.render_letter("A")
    assert a.shape == (1, 28, 28) and a.min() == 0 and a.max() > 0.9
    assert 0.05 < (a > 0.5).float().mean() < 0.5
    assert torch.equal(a, distractor.render_letter("A"))
    assert not torch.equal(a, distractor.render_letter("B"))


def test_distractor_images_stack_the_digit_and_the_letter(digits):
    stacked, mask = distractor.make_distractor_data(digits, "A", seed=0)
    assert stacked.x.shape == (200, 1, 56, 28) and mask.shape == (200, 1, 56, 28)
    assert torch.equal(stacked.y, digits.y)
    letter = distractor.render_letter("A")
    top = mask[:, 0, 0, 0] == 1
    assert 0.3 < top.float().mean() < 0.7  # both placements occur
    assert torch.equal(stacked.x[top][:, :, :28], digits.x[top])
    assert torch.equal(stacked.x[top][:, :, 28:], letter.expand(int(top.sum()), 1, 28, 28))
    assert torch.equal(stacked.x[~top][:, :, 28:], digits.x[~top])
    assert torch.equal(stacked.x[~top][:, :, :28], letter.expand(int((~top).sum()), 1, 28, 28))
    assert torch.equal(mask[top][:, :, :28], torch.ones_like(digits.x[top]))
    assert mask[top][:, :, 28:].sum() == 0


def test_distractor_placement_is_seeded(digits):
    a, mask_a = distractor.make_distractor_data(digits, "A", seed=0)
    b, mask_b = distractor.make_distractor_data(digits, "A", seed=0)
    _, mask_c = distractor.make_distractor_data(digits, "A", seed=1)
    assert torch.equal(a.x, b.x) and torch.equal(mask_a, mask_b) and not torch.equal(mask_a, mask_c)


def test_bad_inputs_name_the_argument(digits):
    with pytest.raises(ValueError, match="letter"):
        distractor.make_distractor_data(digits, "AB")
    with pytest.raises(ValueError, match="data"):
        distractor.make_distractor_data(digits.x, "A")
    with pytest.raises(ValueError, match="config"):
        distractor.train_model(dict(arch="mlp"), digits)
    stacked, mask = distractor.make_distractor_data(digits, "A")
    model = distractor.make_classifier("mlp")
    with pytest.raises(ValueError, match="half"):
        distractor.noise_sensitivity(model, stacked.x, mask, 0.1, half="left")
    with pytest.raises(ValueError, match="digit_mask"):
        distractor.gradient_mass(model, stacked.x, stacked.y, mask[:, :, :28])
    with pytest.raises(ValueError, match="arch"):
        distractor.make_classifier("transformer")


class DigitHalfOnly(torch.nn.Module):
    """A linear model that reads only the digit half (given by a fixed mask): it ignores the distractor."""

    def __init__(self, mask):
        super().__init__()
        self.mask = mask
        self.linear = torch.nn.Linear(56 * 28, 10)

    def forward(self, x):
        return self.linear((x * self.mask[: len(x)]).flatten(1))


def test_measurements_on_a_model_that_ignores_the_distractor(digits):
    stacked, mask = distractor.make_distractor_data(digits, "A", seed=0)
    torch.manual_seed(0)
    model = DigitHalfOnly(mask)
    mass = distractor.gradient_mass(model, stacked.x, stacked.y, mask)
    assert mass.shape == (200,) and mass.abs().max() < 1e-6
    assert distractor.noise_sensitivity(model, stacked.x, mask, 0.5, "distractor") < 1e-6
    assert distractor.noise_sensitivity(model, stacked.x, mask, 0.5, "digit") > 1e-3
    assert distractor.noise_sensitivity(model, stacked.x, mask, 0.0, "digit") == 0


def test_trained_model_is_cached_and_learns(digits):
    stacked, _ = distractor.make_distractor_data(digits, "A", seed=0)
    config = dict(arch="mlp", objective="noise_augmentation", objective_args=dict(sigma=0.3), epochs=3, lr=0.05,
                  batch_size=32, seed=0, data=dict(dataset="mnist", n=200, seed=3, letter="A", placement_seed=0))
    model = distractor.train_model(config, stacked, device="cpu", show_progress=False)
    again = distractor.train_model(config, stacked, device="cpu", show_progress=False)
    assert model.trained_now and not again.trained_now
    for p, q in zip(model.parameters(), again.parameters()):
        assert torch.equal(p, q)
    assert model.history[-1]["loss"] < model.history[0]["loss"]
    assert isinstance(model, models.Classifier)
