"""The page at / in a real headless Chromium (Debian's chromium + chromium-driver, selenium):
generate from a tiny language model and watch streamed text appear, run a forecast and see
its chart. Screenshots go to a temporary folder (the path is printed).

Skipped, with the reason printed, only when Chromium or its driver is not installed
(``.ci/run`` installs them: ``apt-get install -y chromium chromium-driver``).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
webdriver = pytest.importorskip("selenium.webdriver")

from test_serve import FIXTURES, fixture_copy, write_lm  # noqa: E402

from rnnkit.serve.app import create_app  # noqa: E402
from rnnkit.serve.server import BackgroundServer  # noqa: E402
from rnnkit.serve.settings import ServeSettings  # noqa: E402
from rnnkit.serve.tasks import load_models  # noqa: E402

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")


@pytest.fixture(scope="module")
def browser():
    if not (CHROMIUM and DRIVER):
        reason = ("Chromium is not installed (apt-get install -y chromium chromium-driver); "
                  "the browser test is skipped")
        print(reason)
        pytest.skip(reason)
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1100,1400", "--disable-extensions", "--no-first-run"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def url(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("page")
    from rnnkit.apps import forecast

    # a forecaster with intervals (gaussian output), tiny, one epoch on the fixture's series
    config = forecast.Config(mode="segrnn", lookback=12, horizon=4, hidden_size=8,
                             segment_length=4, epochs=1, batch_size=16, output="gaussian")
    forecast.train(config, FIXTURES / "forecast" / "data.csv", tmp / "forecast", quiet=True)
    models = load_models([write_lm(tmp / "shakespeare"), tmp / "forecast",
                          fixture_copy(tmp, "classify"), fixture_copy(tmp, "translate")])
    with BackgroundServer(create_app(models, ServeSettings())) as u:
        yield u


def wait(driver, condition, seconds=60):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, seconds, poll_frequency=0.05).until(condition)


def classify_lines(driver, text: str, results: int) -> list[str]:
    """Type ``text`` into the classify panel, click Classify, wait for ``results`` answers;
    their titles (``input → label``)."""
    from selenium.webdriver.common.by import By

    box = driver.find_element(By.ID, "texts")
    box.clear()
    box.send_keys(text)
    return classified(driver, "classify", results)


def classify_csv(driver, csv: str | Path, results: int) -> list[str]:
    """Paste CSV text, or upload a CSV file (a ``Path``) through the file input, into the
    classify panel's CSV box, click Classify CSV, wait for ``results`` answers; their titles
    (``id → label``)."""
    from selenium.webdriver.common.by import By

    box = driver.find_element(By.ID, "classify-csv")
    driver.execute_script("arguments[0].value = '';", box)
    if isinstance(csv, Path):
        driver.find_element(By.ID, "classify-csv-file").send_keys(str(csv))
        wait(driver, lambda d: box.get_attribute("value") == csv.read_text(encoding="utf-8"))
    else:
        driver.execute_script("arguments[0].value = arguments[1];", box, csv)
    return classified(driver, "classify-csv-run", results)


def classified(driver, button: str, results: int) -> list[str]:
    """Click ``button``, wait for ``results`` answers in the classify panel; their titles."""
    from selenium.webdriver.common.by import By

    driver.find_element(By.ID, button).click()
    wait(driver, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#classes .label")) == results)
    return [e.text for e in driver.find_elements(By.CSS_SELECTOR, "#classes .label")]


def test_page_streams_text_and_draws_a_forecast(browser, url, tmp_path_factory):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    shots = tmp_path_factory.mktemp("screenshots")
    browser.get(url + "/")
    wait(browser, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#model option")) == 4)
    Select(browser.find_element(By.ID, "model")).select_by_value("shakespeare")
    assert browser.find_element(By.ID, "panel-textgen").is_displayed()
    prompt = browser.find_element(By.ID, "prompt")
    prompt.clear()
    prompt.send_keys("the ")
    browser.find_element(By.ID, "max-tokens").clear()
    browser.find_element(By.ID, "max-tokens").send_keys("400")
    browser.find_element(By.ID, "seed").send_keys("7")
    # streamed: the page shows part of the text while the request is still open (the Stop
    # button enabled). The page records it itself: polling from here raced a fast stream
    # (all 400 tokens could be in before the first look, the Stop button not yet disabled)
    browser.execute_script("""
        const out = document.getElementById('generated'), stop = document.getElementById('stop');
        window.seenWhileOpen = [];
        new MutationObserver(() => { if (!stop.disabled) seenWhileOpen.push(out.textContent.length); })
          .observe(out, {childList: true, characterData: true, subtree: true});""")
    browser.find_element(By.ID, "generate").click()
    out = browser.find_element(By.ID, "generated")
    wait(browser, lambda d: "length" in d.find_element(By.ID, "gen-stats").text)
    seen = browser.execute_script("return window.seenWhileOpen")
    assert any(len("the ") < n < len(out.text) for n in seen), seen
    assert "400 tokens" in browser.find_element(By.ID, "gen-stats").text
    assert out.text.startswith("the")
    browser.save_screenshot(str(shots / "generate.png"))

    Select(browser.find_element(By.ID, "model")).select_by_value("forecast")
    csv = (FIXTURES / "forecast" / "data.csv").read_text()
    browser.execute_script("document.getElementById('csv').value = arguments[0];", csv)
    browser.find_element(By.ID, "forecast").click()
    wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#chart svg polyline.forecast"))
    charts = browser.find_elements(By.CSS_SELECTOR, "#chart svg")
    assert len(charts) == 2  # one per forecast column (a, b)
    points = charts[0].find_element(By.CSS_SELECTOR, "polyline.forecast").get_attribute("points")
    assert len(points.split()) == 1 + 4  # the last observed value, then the horizon
    assert browser.find_elements(By.CSS_SELECTOR, "#chart svg polyline.history")
    band = charts[0].find_element(By.CSS_SELECTOR, "polygon.band").get_attribute("points")
    assert len(band.split()) == 2 * 4  # the interval: upper edge out, lower edge back
    assert browser.find_element(By.ID, "status").text == ""
    browser.save_screenshot(str(shots / "forecast.png"))
    browser.set_window_size(390, 1400)  # a phone's width: the panel still fits
    scroll, client = browser.execute_script(
        "const e = document.documentElement; return [e.scrollWidth, e.clientWidth];")
    assert scroll <= client, (scroll, client)  # nothing sticks out sideways
    browser.save_screenshot(str(shots / "forecast-phone.png"))
    browser.set_window_size(1100, 1400)

    Select(browser.find_element(By.ID, "model")).select_by_value("classify")
    labels = classify_lines(browser, "good fun\nbad plot", 2)
    assert labels[0].startswith("good fun → ") and labels[0][-3:] in ("pos", "neg")
    assert len(browser.find_elements(By.CSS_SELECTOR, "#classes .bar")) == 4  # 2 x 2 classes
    browser.save_screenshot(str(shots / "classify.png"))

    Select(browser.find_element(By.ID, "model")).select_by_value("translate")
    source = browser.find_element(By.ID, "source")
    source.send_keys("ein mann läuft")
    browser.find_element(By.ID, "translate").click()
    wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#heatmap svg rect"))
    out = browser.find_element(By.ID, "translation").text
    cells = browser.find_elements(By.CSS_SELECTOR, "#heatmap svg rect")
    assert out and len(cells) == 3 * (len(out.split()) + 1)  # source x (output + <eos>)
    browser.save_screenshot(str(shots / "translate.png"))
    print(f"screenshots: {shots}")
    assert all((shots / n).stat().st_size > 1000 for n in
               ("generate.png", "forecast.png", "forecast-phone.png", "classify.png",
                "translate.png"))
    Path(shots / "README").write_text("rnnkit serve page screenshots\n")
