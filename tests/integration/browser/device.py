"""The person's side of the device grant in a real Chromium, driven by selenium: open
the verification_uri_complete a host showed, continue with the prefilled code, sign in
(password form, or SPNEGO with the ticket in KRB5CCNAME), allow, and read the last page.

    device.py URL MODE USER PASSWORD PROFILE_DIR

MODE: "password" or "kerberos". Prints one JSON object: what the browser saw.
"""
import json
import sys

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

url, mode, user, password, profile = sys.argv[1:6]
result = {}

options = webdriver.ChromeOptions()
options.binary_location = "/usr/bin/chromium"
for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
             "--no-first-run", "--disable-background-networking", "--disable-component-update",
             "--disable-sync", "--ignore-certificate-errors", "--user-data-dir=" + profile):
    options.add_argument(flag)
if mode == "kerberos":
    options.add_argument("--auth-server-allowlist=localhost")
driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
wait = WebDriverWait(driver, 20)
try:
    driver.get(url)
    code = wait.until(EC.presence_of_element_located((By.ID, "user_code")))
    result["prefilled"] = code.get_attribute("value")
    driver.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    wait.until(lambda d: d.find_elements(By.ID, "password")
               or d.find_elements(By.CSS_SELECTOR, "button[value=allow]"))
    if mode == "kerberos" and driver.find_elements(By.ID, "password"):
        # A new Chromium leaves its very first 401 Negotiate unanswered while it loads
        # its GSSAPI library (TESTBED.md); ahdapa challenges twice, so a reload of the
        # page negotiates.
        result["first_visit_form"] = True
        driver.get(driver.current_url)
        wait.until(lambda d: d.find_elements(By.ID, "password")
                   or d.find_elements(By.CSS_SELECTOR, "button[value=allow]"))
    if driver.find_elements(By.ID, "password"):
        result["saw_form"] = True
        driver.find_element(By.ID, "username").send_keys(user)
        driver.find_element(By.ID, "password").send_keys(password)
        driver.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    allow = wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, "button[value=allow]")))
    result["question"] = driver.find_element(By.ID, "consent-heading").text
    allow.click()
    wait.until(EC.presence_of_element_located((By.ID, "done-heading")))
    result["done"] = driver.find_element(By.ID, "done-heading").text
    result["saw_form"] = result.get("saw_form", False)
except Exception as e:
    result["browser_error"] = repr(e)
    result["url"] = driver.current_url
    result["page"] = driver.page_source[:3000]
finally:
    driver.quit()
print(json.dumps(result))
