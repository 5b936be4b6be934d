"""The graph explorer in a real browser: headless Chromium driven by Selenium opens pages
that viz.explore wrote, opens a layer, hovers, searches, clicks, switches to the backward
view, and times a 10,000-op page.

Needs the ``browser`` extra (``pip install "tinygrad_cnn[browser]"``, Selenium) and
Chromium with its driver (``apt-get install chromium chromium-driver``; other places via
TINYGRAD_CNN_CHROMIUM and TINYGRAD_CNN_CHROMEDRIVER). Without them each test is skipped
and says why. The page does not depend on the device, so the tests run in the CPU pass only.
"""

import os
import shutil
import time

import pytest

import tinygrad_cnn as tg
from tinygrad_cnn import Tensor, viz
from tinygrad_cnn.nn.hooks import running


def _find(variable, *names):
    if os.environ.get(variable):
        return os.environ[variable] if os.path.isfile(os.environ[variable]) else None
    return next(filter(None, map(shutil.which, names)), None)


CHROMIUM = _find("TINYGRAD_CNN_CHROMIUM", "chromium", "chromium-browser", "google-chrome")
CHROMEDRIVER = _find("TINYGRAD_CNN_CHROMEDRIVER", "chromedriver")


@pytest.fixture(scope="module")
def browser():
    if os.environ.get("TINYGRAD_CNN_DEVICE", "").strip().lower() not in ("", "cpu"):
        pytest.skip("the explorer page does not depend on the device: tested in the CPU pass")
    webdriver = pytest.importorskip(
        "selenium.webdriver", reason='selenium not installed (pip install "tinygrad_cnn[browser]")')
    if CHROMIUM is None or CHROMEDRIVER is None:
        pytest.skip("Chromium or chromedriver not found (apt-get install chromium "
                    "chromium-driver, or set TINYGRAD_CNN_CHROMIUM / TINYGRAD_CNN_CHROMEDRIVER)")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,800",
                "--disable-dev-shm-usage"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_script_timeout(30)
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def lenet_page(tmp_path_factory):
    path = tmp_path_factory.mktemp("explorer") / "lenet5.html"
    viz.explore_training_step("lenet5", batch_size=4, grads=True).save(path)
    return path


def open_page(browser, path):
    browser.get(path.as_uri())
    assert browser.execute_script("return document.body.dataset.ready") == "1"


def boxes(browser, kind):
    return browser.execute_script(
        "return [...document.querySelectorAll('.node.k-' + arguments[0])]"
        ".map(el => [el.dataset.key, el.textContent])", kind)


def key_of(browser, kind, text):
    return next(key for key, content in boxes(browser, kind) if content.startswith(text))


def test_opens_one_box_per_layer_and_a_click_opens_one(browser, lenet_page):
    from selenium.webdriver.common.by import By

    open_page(browser, lenet_page)
    layers = [text.split(")")[0] + ")" for _, text in boxes(browser, "module")]
    assert layers[:3] == ["conv1 (Conv2d)", "relu1 (ReLU)", "pool1 (MaxPool2d)"]
    assert len(layers) == 12 and not boxes(browser, "param")
    browser.find_element(By.CSS_SELECTOR, f'[data-key="{key_of(browser, "module", "conv1")}"]'
                         ).click()
    assert sorted(text.split("(")[0] for _, text in boxes(browser, "param")) == \
        ["conv1.bias", "conv1.weight"]
    assert any(text.startswith("Conv2dstride 1, pad 2, kernel 5") for _, text in
               boxes(browser, "op"))
    assert len(boxes(browser, "module")) == 11  # the other layers stay closed
    titles = browser.execute_script(
        "return [...document.querySelectorAll('.ctitle')].map(el => el.textContent)")
    assert "\u2212 conv1 (Conv2d)" in titles
    browser.find_element(By.ID, "open-all").click()
    assert not boxes(browser, "module") and len(boxes(browser, "param")) == 10
    browser.find_element(By.ID, "close-all").click()
    assert len(boxes(browser, "module")) == 12


def test_hover_shows_what_autograd_recorded(browser, lenet_page):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    open_page(browser, lenet_page)
    browser.execute_script("explorer.search('conv1.weight')")  # opens conv1
    op = browser.find_element(By.CSS_SELECTOR,
                              f'[data-key="{key_of(browser, "op", "Conv2d")}"]')
    ActionChains(browser).move_to_element(op).perform()
    tip = browser.find_element(By.ID, "tip")
    assert tip.is_displayed()
    lines = tip.text.splitlines()
    assert lines[:3] == ["Conv2d", "stride 1, pad 2, kernel 5", "(4, 6, 28, 28) float32"]
    assert lines[3].startswith("\u2207 norm ")
    assert "module: LeNet5 \u203a conv1 (Conv2d)" in lines
    assert lines[-1] == "backward() step 13 of 13"


def test_search_finds_conv2_and_click_highlights_its_lineage(browser, lenet_page):
    from selenium.webdriver.common.by import By

    open_page(browser, lenet_page)
    search = browser.find_element(By.ID, "search")
    search.send_keys("conv2")
    found = browser.find_elements(By.CSS_SELECTOR, ".found")
    assert len(found) == 1 and found[0].text.startswith("conv2 (Conv2d)")
    assert browser.find_element(By.ID, "found-count").text == "1 of 6"
    # the found box is in the window
    top = browser.execute_script("return arguments[0].getBoundingClientRect().top", found[0])
    assert 0 < top < 800
    relu1 = key_of(browser, "module", "relu1")
    browser.find_element(By.CSS_SELECTOR, f'[data-key="{relu1}"]').click()  # opens relu1
    relu = browser.find_element(By.CSS_SELECTOR,
                                f'[data-key="{key_of(browser, "op", "ReLU")}"]')
    relu.click()
    lit = browser.execute_script(
        "return [...document.querySelectorAll('.node.on')].map(el => el.textContent)")
    assert any(t.startswith("input") for t in lit) and any(t.startswith("output") for t in lit)
    assert any(t.startswith("conv1 (Conv2d)") for t in lit)  # what it depends on
    assert any(t.startswith("fc3 (Linear)") for t in lit)  # what depends on it


def test_backward_view_walks_from_the_output(browser, lenet_page):
    from selenium.webdriver.common.by import By

    open_page(browser, lenet_page)
    browser.find_element(By.ID, "direction").click()
    assert browser.find_element(By.ID, "direction").text == "Forward view"
    assert [t for _, t in boxes(browser, "output")][0].startswith("start: \u2202output = 1")
    ops = [t for _, t in boxes(browser, "op")]
    assert ops == ["1. CrossEntropy backwardreduction mean() float32\u2207 norm 1 [1, 1]"]
    assert not boxes(browser, "input")  # the images and labels get no gradient
    browser.find_element(By.ID, "open-all").click()
    steps = sorted(int(t.split(".")[0]) for _, t in boxes(browser, "op"))
    assert steps == list(range(1, 14))


def test_jupyter_output_runs_as_a_page(browser, tmp_path):
    loss, model = viz.training_step.run_training_step("lenet5", 2)
    shown = tmp_path / "cell.html"
    shown.write_text(viz.explore(loss, model)._repr_html_(), "utf-8")
    browser.get(shown.as_uri())
    browser.switch_to.frame(0)
    try:
        assert browser.execute_script("return document.body.dataset.ready") == "1"
        assert len(boxes(browser, "module")) == 12
    finally:
        browser.switch_to.default_content()


def test_ten_thousand_op_page_opens_and_stays_responsive(browser, tmp_path):
    """Prints the times; the bounds are loose (a shared 2-core CI machine), the point is
    that nothing takes seconds per interaction."""
    tg.manual_seed(0)
    x = Tensor.randn(2, 3, requires_grad=True)
    y = x
    with running("", "Net"):
        for b in range(100):
            with running(f"block{b}", "Block"):
                for layer in range(10):
                    with running(f"layer{layer}", "Scale"):
                        for _ in range(10):
                            y = y * 1.0001
    path = tmp_path / "big.html"
    viz.explore(y.sum(), {"x": x}, path=path)
    start = time.perf_counter()
    browser.get(path.as_uri())
    load = time.perf_counter() - start
    assert browser.execute_script("return explorer.boxes()") == 102  # x, 100 blocks, output

    def timed(script):
        return browser.execute_async_script(
            "const done = arguments[0], t = performance.now();" + script +
            ";requestAnimationFrame(() => setTimeout(() => done(performance.now() - t), 0))")

    open_all = timed("explorer.openAll()")
    assert browser.execute_script("return explorer.boxes()") == 10_003
    pan = timed("document.dispatchEvent(new KeyboardEvent('keydown', {key: 'ArrowDown'}))")
    zoom = timed("document.dispatchEvent(new KeyboardEvent('keydown', {key: '-'}))")
    search = timed("explorer.search('layer7')")
    print(f"\n10,000-op page ({os.path.getsize(path) / 1e6:.1f} MB): load {load:.2f} s, "
          f"open all {open_all:.0f} ms, pan {pan:.0f} ms, zoom {zoom:.0f} ms, "
          f"search {search:.0f} ms")
    assert load < 20 and open_all < 10_000 and max(pan, zoom, search) < 5_000
