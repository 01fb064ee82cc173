// An external OIDC issuer for the federation tests: node's oidc-provider (panva) over
// HTTPS, issuing client_credentials access tokens as JWTs whose aud is ahdapa.
//   node oidc-provider.mjs PORT CERT KEY SIGNING_KEY_PEM KID AHDAPA_ISSUER
// Clients (secret "s3cret-0123456789"): ci-job (environment prod), other-job
// (environment staging). Resources: AHDAPA_ISSUER (a 300 s token), urn:ahdapa:long
// (aud AHDAPA_ISSUER, lives 7200 s), https://elsewhere.test (another audience).
import { createPrivateKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import https from 'node:https';
import Provider from 'oidc-provider';

const [port, cert, key, signingPem, kid, ahdapa] = process.argv.slice(2);
const signing = createPrivateKey(readFileSync(signingPem, 'utf8'));
const alg = signing.asymmetricKeyType === 'rsa' ? 'RS256' : 'ES256';
const jwk = { ...signing.export({ format: 'jwk' }), kid, alg, use: 'sig' };
const environments = { 'ci-job': 'prod', 'other-job': 'staging' };

const client = (id) => ({
  client_id: id,
  client_secret: 's3cret-0123456789',
  grant_types: ['client_credentials'],
  redirect_uris: [],
  response_types: [],
  token_endpoint_auth_method: 'client_secret_post',
  id_token_signed_response_alg: alg,
  scope: 'deploy',
});

const provider = new Provider(`https://127.0.0.1:${port}`, {
  clients: [client('ci-job'), client('other-job')],
  jwks: { keys: [jwk] },
  scopes: ['deploy'],
  extraTokenClaims: (ctx, token) => ({
    repository: 'acme/site',
    environment: environments[token.clientId],
  }),
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => ahdapa,
      useGrantedResource: () => true,
      getResourceServerInfo: (ctx, resource) => ({
        scope: 'deploy',
        audience: resource === 'urn:ahdapa:long' ? ahdapa : resource,
        accessTokenFormat: 'jwt',
        accessTokenTTL: resource === 'urn:ahdapa:long' ? 7200 : 300,
        jwt: { sign: { alg } },
      }),
    },
  },
});
provider.proxy = true;
https
  .createServer({ cert: readFileSync(cert), key: readFileSync(key) }, provider.callback())
  .listen(Number(port), '127.0.0.1', () => console.log(`listening on ${port}`));
