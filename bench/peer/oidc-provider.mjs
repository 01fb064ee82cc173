// The peer IdP for bench/run: node's oidc-provider (panva), in-memory adapter, one
// confidential client with client_credentials, access tokens as ES256-signed JWTs
// (RFC 9068 profile, as ahdapa issues them). WORKERS node processes share the port
// (node's cluster module), so the peer gets every core as ahdapa does.
//   WORKERS=2 node oidc-provider.mjs PORT CLIENT_ID CLIENT_SECRET JWK_FILE
import cluster from 'node:cluster';
import { generateKeyPairSync } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import Provider from 'oidc-provider';

const [port, clientId, clientSecret, jwkFile] = process.argv.slice(2);
const workers = Number(process.env.WORKERS || '1');
if (cluster.isPrimary && workers > 1) {
  // One signing key for all workers.
  if (!existsSync(jwkFile)) {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    writeFileSync(jwkFile, JSON.stringify(privateKey.export({ format: 'jwk' })));
  }
  for (let i = 0; i < workers; i += 1) cluster.fork();
  cluster.on('exit', () => process.exit(1));
} else {
  serve();
}

function serve() {
  if (!existsSync(jwkFile)) {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    writeFileSync(jwkFile, JSON.stringify(privateKey.export({ format: 'jwk' })));
  }
  const jwk = { ...JSON.parse(readFileSync(jwkFile, 'utf8')), kid: 'bench', alg: 'ES256', use: 'sig' };

  const provider = new Provider(`http://127.0.0.1:${port}`, {
    clients: [{
      client_id: clientId,
      client_secret: clientSecret,
      grant_types: ['client_credentials'],
      redirect_uris: [],
      response_types: [],
      token_endpoint_auth_method: 'client_secret_basic',
      id_token_signed_response_alg: 'ES256',
      scope: 'bench',
    }],
    jwks: { keys: [jwk] },
    scopes: ['bench'],
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => 'https://api.bench.test',
        useGrantedResource: () => true,
        getResourceServerInfo: () => ({
          scope: 'bench',
          accessTokenFormat: 'jwt',
          accessTokenTTL: 300,
          jwt: { sign: { alg: 'ES256' } },
        }),
      },
    },
  });
  provider.listen(Number(port), '127.0.0.1', () => console.log(`listening on ${port}`));
}
