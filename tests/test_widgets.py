"""Sliders over pre-rendered pictures: linked in the browser, one picture per position, inputs checked."""
import ipywidgets
import matplotlib
import pytest
import torch

matplotlib.use("Agg")

from pagutils import attacks, gaussian, manifold, models, widgets  # noqa: E402

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("PAG_CACHE_DIR", str(tmp_path))


def _parts(box):
    slider, stack = box.children
    return slider, stack


def _linked(box):
    """The jslink of a slider box joins the slider's index to the stack's selected_index."""
    slider, stack = _parts(box)
    link = box.link
    assert isinstance(link, ipywidgets.widgets.widget_link.Link)
    assert link.source == (slider, "index") and link.target == (stack, "selected_index")


def _tiny_images(n=3, seed=0):
    return torch.rand(n, 1, 28, 28, generator=torch.Generator().manual_seed(seed))


def test_figure_png_renders_and_closes():
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    png = widgets.figure_png(fig)
    assert png.startswith(PNG_MAGIC)
    assert not plt.fignum_exists(fig.number)
    with pytest.raises(TypeError, match="figure_png: fig must be a matplotlib Figure"):
        widgets.figure_png("not a figure")


def test_picture_slider_links_positions_to_pictures():
    pictures = [PNG_MAGIC + bytes([i]) for i in range(3)]
    box = widgets.picture_slider(pictures, ["0", "0.5", "1"], "ε", start=1)
    slider, stack = _parts(box)
    _linked(box)
    assert slider.options == ("0", "0.5", "1") and slider.index == 1 and stack.selected_index == 1
    assert [bytes(image.value) for image in stack.children] == pictures
    assert all(image.format == "png" for image in stack.children)


@pytest.mark.parametrize("pictures, labels, start, message", [
    ([], [], 0, "pictures must be a non-empty list of PNG bytes"),
    (["x"], ["a"], 0, "pictures must be a non-empty list of PNG bytes"),
    ([b"a", b"b"], ["a"], 0, "labels must be 2 distinct strings"),
    ([b"a", b"b"], ["a", "a"], 0, "labels must be 2 distinct strings"),
    ([b"a", b"b"], ["a", "b"], 2, "start must be < 2"),
])
def test_picture_slider_checks_its_arguments(pictures, labels, start, message):
    with pytest.raises(ValueError, match=message):
        widgets.picture_slider(pictures, labels, "x", start=start)


def test_gaussian_eps_slider_has_one_panel_per_budget():
    mu, sigma = gaussian.example_model(2, 100.0)
    x, y = gaussian.sample(200, mu, sigma, seed=0)
    box = widgets.gaussian_eps_slider(mu, sigma, [0.0, 0.5, 1.0], x, y)
    slider, stack = _parts(box)
    _linked(box)
    assert slider.options == ("0", "0.5", "1")
    assert len(stack.children) == 3 and all(bytes(im.value).startswith(PNG_MAGIC) for im in stack.children)
    assert len({bytes(im.value) for im in stack.children}) == 3  # a different panel at every budget
    with pytest.raises(ValueError, match="eps_grid must hold distinct values"):
        widgets.gaussian_eps_slider(mu, sigma, [0.5, 0.5])
    with pytest.raises(ValueError, match=r"gaussian_eps_slider: eps_grid\[1\] must be a number >= 0, got -1.0"):
        widgets.gaussian_eps_slider(mu, sigma, [0.5, -1.0])


def test_attack_slider_frames_and_static_figure():
    torch.manual_seed(0)
    nets = {"a": models.make_classifier("mlp", "mnist", seed=0), "b": models.make_classifier("mlp", "mnist", seed=1)}
    x, y = _tiny_images(), torch.tensor([0, 1, 2])
    box, fig = widgets.attack_slider(nets, x, y, [0.0, 1.0], [str(i) for i in range(10)],
                                     attacks.Attack("l2", steps=2), n_static=1)
    slider, stack = _parts(box)
    _linked(box)
    assert slider.options == ("0", "1") and len(stack.children) == 2
    assert len(fig.axes) == 2 * 2  # one static image per model (rows) and budget (columns)
    with pytest.raises(ValueError, match="attack_slider: models must be a non-empty dict"):
        widgets.attack_slider({}, x, y, [0.0], list("0123456789"))
    with pytest.raises(ValueError, match="attack_slider: y"):
        widgets.attack_slider(nets, x, y[:2], [0.0], list("0123456789"))
    with pytest.raises(TypeError, match="attack_slider: attack must be a pagutils.core.attacks.Attack"):
        widgets.attack_slider(nets, x, y, [0.0], list("0123456789"), "l2")


def test_noise_slider_frames_and_static_figure():
    nets = {"a": models.make_classifier("mlp", "mnist", seed=0)}
    x = _tiny_images(2)
    basis = manifold.random_basis(2, (1, 28, 28), k=4, seed=0)
    box, fig = widgets.noise_slider(nets, x, basis, [0.5, 2.0, 4.0], [str(i) for i in range(10)])
    slider, stack = _parts(box)
    _linked(box)
    assert slider.options == ("0.5", "2", "4") and len(stack.children) == 3
    assert len(fig.axes) == 2 * 3  # on/off rows, one column per noise level
    with pytest.raises(ValueError, match="noise_slider: sigmas must be a non-empty list"):
        widgets.noise_slider(nets, x, basis, [], list("0123456789"))
    with pytest.raises(ValueError):
        widgets.noise_slider(nets, x, basis[:1], [1.0], list("0123456789"))
