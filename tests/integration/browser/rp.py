"""A relying party built on a third-party OpenID Connect library (authlib), driven by a
real Chromium through selenium: the browser side of ahdapa's sign-in tests.

    rp.py ISSUER CLIENT_ID MODE [USER PASSWORD]

MODE: "password" fills the sign-in form (and allows the consent page if one comes);
"kerberos" expects to land without any form (the browser negotiates with the ticket in
KRB5CCNAME); "form-only" checks that a browser without a ticket gets the form (never a
401 loop). Prints one JSON object: what the RP verified and what the browser saw.
"""
import http.server
import json
import secrets
import sys
import threading
import urllib.parse

import requests

from authlib.integrations.requests_client import OAuth2Session
from authlib.jose import JsonWebKey, jwt
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

issuer, client_id, mode = sys.argv[1:4]
user, password = (sys.argv[4], sys.argv[5]) if len(sys.argv) > 5 else ("", "")
result = {}
state = {}


def metadata():
    return requests.get(issuer + "/.well-known/openid-configuration", timeout=10).json()


class RP(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def page(self, status, body):
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        url = urllib.parse.urlparse(self.path)
        redirect_uri = "http://127.0.0.1:%d/cb" % self.server.server_port
        if url.path == "/login":
            conf = metadata()
            client = OAuth2Session(client_id, redirect_uri=redirect_uri,
                                   scope="openid profile email",
                                   code_challenge_method="S256")
            verifier = secrets.token_urlsafe(48)
            nonce = secrets.token_urlsafe(16)
            uri, st = client.create_authorization_url(
                conf["authorization_endpoint"], code_verifier=verifier, nonce=nonce)
            state.update(verifier=verifier, nonce=nonce, state=st, conf=conf)
            self.send_response(302)
            self.send_header("Location", uri)
            self.end_headers()
        elif url.path == "/cb":
            try:
                conf = state["conf"]
                client = OAuth2Session(client_id, redirect_uri=redirect_uri,
                                       state=state["state"], code_challenge_method="S256",
                                       token_endpoint_auth_method="none")
                full = "http://127.0.0.1:%d%s" % (self.server.server_port, self.path)
                q = dict(urllib.parse.parse_qsl(url.query))
                result["iss_param"] = q.get("iss")
                token = client.fetch_token(conf["token_endpoint"], authorization_response=full,
                                           code_verifier=state["verifier"])
                jwks = JsonWebKey.import_key_set(requests.get(conf["jwks_uri"], timeout=10).json())
                claims = jwt.decode(token["id_token"], jwks, claims_options={
                    "iss": {"essential": True, "value": issuer},
                    "aud": {"essential": True, "value": client_id},
                    "nonce": {"essential": True, "value": state["nonce"]},
                })
                claims.validate()
                result["id_token"] = dict(claims)
                result["userinfo"] = client.get(conf["userinfo_endpoint"]).json()
                self.page(200, "<!doctype html><title>RP</title><p id=who>Signed in as %s</p>"
                          % claims["sub"])
            except Exception as e:  # the test prints it
                result["rp_error"] = repr(e)
                self.page(500, "<p id=who>RP error</p>")
        else:
            self.page(404, "no")


server = http.server.HTTPServer(("127.0.0.1", 0), RP)
threading.Thread(target=server.serve_forever, daemon=True).start()
rp = "http://127.0.0.1:%d" % server.server_port

options = webdriver.ChromeOptions()
options.binary_location = "/usr/bin/chromium"
for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
             "--no-first-run", "--disable-background-networking", "--disable-component-update",
             "--disable-sync", "--ignore-certificate-errors",
             "--user-data-dir=" + sys.argv[6] if len(sys.argv) > 6 else "--incognito"):
    options.add_argument(flag)
if mode == "kerberos":
    options.add_argument("--auth-server-allowlist=localhost")
driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
wait = WebDriverWait(driver, 20)
try:
    if mode == "kerberos":
        # A new Chromium process leaves its first 401 Negotiate unanswered while it loads
        # the GSSAPI library (TESTBED.md); ahdapa challenges twice before it stops, so a
        # person who reloads is signed in. The first visit here shows the form.
        driver.get(rp + "/login")
        result["first_visit_form"] = bool(driver.find_elements(By.ID, "password"))
    driver.get(rp + "/login")
    if mode in ("password", "form-only"):
        wait.until(EC.presence_of_element_located((By.ID, "password")))
        result["form_title"] = driver.title
        result["saw_form"] = True
        if mode == "password":
            driver.find_element(By.ID, "username").send_keys(user)
            driver.find_element(By.ID, "password").send_keys(password)
            driver.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
            wait.until(lambda d: d.find_elements(By.ID, "who")
                       or d.find_elements(By.CSS_SELECTOR, "button[value=allow]"))
            allow = driver.find_elements(By.CSS_SELECTOR, "button[value=allow]")
            if allow:
                result["saw_consent"] = True
                allow[0].click()
    if mode != "form-only":
        wait.until(EC.presence_of_element_located((By.ID, "who")))
        result["landed"] = driver.find_element(By.ID, "who").text
        result["saw_form"] = result.get("saw_form", False)
except Exception as e:
    result["browser_error"] = repr(e)
    result["url"] = driver.current_url
    result["page"] = driver.page_source[:3000]
finally:
    driver.quit()
    server.shutdown()
print(json.dumps(result))
