// A small, standard OpenID provider on a different library and language from Tenohira's
// own stand-in (node's oidc-provider instead of Python): the tests connect to it by
// settings alone, to show that "generic OpenID Connect" means any standard provider, not
// only the one we wrote. Test use only; it listens on 127.0.0.1.
//
//   node server.js --redirect-uri URI [--redirect-uri URI …] --client-id ID --client-secret SECRET
//
// It listens on a free port chosen by the system (no race between picking and binding a
// port when tests run in parallel) and prints one JSON line on stdout once it accepts
// requests: {"issuer": "http://127.0.0.1:PORT", "client_id": …, "username": …, "password": …}.
//
// One confidential client (client_secret_basic, authorization code, PKCE required),
// scopes openid email profile, one fictional person. The login and consent pages are
// plain HTML forms, so a script can complete the flow by posting them.

import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import { parseArgs } from 'node:util';

import Provider from 'oidc-provider';

const { values: args } = parseArgs({
  options: {
    'redirect-uri': { type: 'string', multiple: true },
    'client-id': { type: 'string', default: 'tenohira-test' },
    'client-secret': { type: 'string' },
  },
});
if (!args['redirect-uri'] || !args['client-secret']) {
  process.stderr.write('usage: node server.js --redirect-uri URI [...] --client-id ID --client-secret SECRET\n');
  process.exit(2);
}

// The one person this provider knows. The name has a variant kanji (髙, not 高) so a test
// can see it arrive unchanged.
const PERSON = {
  username: 'hanako',
  password: 'kenmin-pass',
  sub: 'kenmin-0001',
  claims: {
    name: '髙橋 花子',
    family_name: '髙橋',
    given_name: '花子',
    email: 'hanako.takahashi@example.jp',
    email_verified: true,
  },
};

function escapeHtml(text) {
  return String(text).replace(/[&<>"']/g, (c) => ({
    '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;',
  })[c]);
}

function page(res, status, title, body) {
  res.statusCode = status;
  res.setHeader('Content-Type', 'text/html; charset=utf-8');
  res.setHeader('Cache-Control', 'no-store');
  res.end(`<!doctype html><html lang="ja"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title></head>`
    + `<body><p>Test OpenID provider (not a real service)</p><h1>${escapeHtml(title)}</h1>${body}</body></html>`);
}

async function readForm(req) {
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > 16 * 1024) throw new Error('form too large');
    chunks.push(chunk);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

function buildProvider(issuer) {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = { ...privateKey.export({ format: 'jwk' }), kid: 'test-1', use: 'sig', alg: 'RS256' };
  return new Provider(issuer, {
    clients: [{
      client_id: args['client-id'],
      client_secret: args['client-secret'],
      redirect_uris: args['redirect-uri'],
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
      id_token_signed_response_alg: 'RS256',
    }],
    jwks: { keys: [jwk] },
    cookies: { keys: [randomBytes(32).toString('hex')] },
    scopes: ['openid', 'email', 'profile'],
    claims: {
      openid: ['sub'],
      email: ['email', 'email_verified'],
      profile: ['name', 'family_name', 'given_name'],
    },
    // Required for this confidential client too (the default asks it of public clients only).
    pkce: { required: () => true },
    features: { devInteractions: { enabled: false } },
    interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
    async findAccount(_ctx, sub) {
      if (sub !== PERSON.sub) return undefined;
      return { accountId: sub, claims: async () => ({ sub, ...PERSON.claims }) };
    },
  });
}

// The login and consent pages (the interactions); everything else is the library's.
async function interaction(provider, req, res, uid, action) {
  const details = await provider.interactionDetails(req, res);
  if (details.uid !== uid) return page(res, 400, 'Error', '<p>Unknown interaction.</p>');
  const prompt = details.prompt.name;

  if (req.method === 'GET' && !action) {
    if (prompt === 'login') {
      return page(res, 200, 'Sign in', `
<form method="post" action="/interaction/${escapeHtml(uid)}/login">
  <label>User name <input name="username" autocomplete="username"></label>
  <label>Password <input name="password" type="password" autocomplete="current-password"></label>
  <button type="submit">Sign in</button>
</form>
<form method="post" action="/interaction/${escapeHtml(uid)}/abort"><button type="submit">Cancel</button></form>`);
    }
    if (prompt === 'consent') {
      const scopes = (details.prompt.details.missingOIDCScope || []).join(' ');
      return page(res, 200, 'Share your details', `
<p>The service asks for: ${escapeHtml(scopes)}</p>
<form method="post" action="/interaction/${escapeHtml(uid)}/confirm"><button type="submit">Allow</button></form>
<form method="post" action="/interaction/${escapeHtml(uid)}/abort"><button type="submit">Cancel</button></form>`);
    }
    return page(res, 501, 'Error', '<p>Not supported.</p>');
  }
  if (req.method !== 'POST') return page(res, 405, 'Error', '<p>Method not allowed.</p>');

  if (action === 'login' && prompt === 'login') {
    const form = await readForm(req);
    if (form.get('username') !== PERSON.username || form.get('password') !== PERSON.password) {
      return page(res, 200, 'Sign in', '<p role="alert">Wrong user name or password.</p>');
    }
    return provider.interactionFinished(req, res, { login: { accountId: PERSON.sub } }, { mergeWithLastSubmission: false });
  }
  if (action === 'confirm' && prompt === 'consent') {
    const { missingOIDCScope, missingOIDCClaims } = details.prompt.details;
    const grant = details.grantId
      ? await provider.Grant.find(details.grantId)
      : new provider.Grant({ accountId: details.session.accountId, clientId: details.params.client_id });
    if (missingOIDCScope) grant.addOIDCScope(missingOIDCScope.join(' '));
    if (missingOIDCClaims) grant.addOIDCClaims(missingOIDCClaims);
    const grantId = await grant.save();
    return provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
  }
  if (action === 'abort') {
    return provider.interactionFinished(req, res, {
      error: 'access_denied', error_description: 'End-User aborted interaction',
    }, { mergeWithLastSubmission: false });
  }
  return page(res, 400, 'Error', '<p>Unexpected form.</p>');
}

let provider;
let callback;
const server = createServer((req, res) => {
  const match = /^\/interaction\/([\w-]+)(?:\/(login|confirm|abort))?\/?$/.exec(new URL(req.url, 'http://x').pathname);
  if (match) {
    interaction(provider, req, res, match[1], match[2]).catch((err) => {
      if (!res.headersSent) page(res, 400, 'Error', `<p>${escapeHtml(err.name || 'error')}</p>`);
    });
    return;
  }
  callback(req, res);
});

server.listen(0, '127.0.0.1', () => {
  const issuer = `http://127.0.0.1:${server.address().port}`;
  provider = buildProvider(issuer);
  callback = provider.callback();
  process.stdout.write(`${JSON.stringify({
    issuer, client_id: args['client-id'], username: PERSON.username, password: PERSON.password,
    name: PERSON.claims.name, email: PERSON.claims.email,
  })}\n`);
});

// The test harness ends us with SIGTERM; close promptly.
for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => { server.close(); process.exit(0); });
}
