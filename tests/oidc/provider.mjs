// provider.mjs — "OpenMeet", the OpenID provider the tests sign in through.
//
// A real oidc-provider instance (certified OpenID Connect implementation) on
// 127.0.0.1, playing the part of OpenMeet's identity service: the homeserver
// (like Synapse's oidc_providers) uses it as a confidential client, and
// native OIDC clients can register dynamically.
//
//   node provider.mjs [--port N] [--client-id ID] [--client-secret S]
//                     [--redirect-uri URI]...
//
// Options fall back to OM_OIDC_PORT, OM_OIDC_CLIENT_ID, OM_OIDC_CLIENT_SECRET
// and OM_OIDC_REDIRECT_URIS (space-separated).  Port 0 (the default) picks a
// free one.  When listening it prints exactly one line on stdout:
//   OM_TEST_OIDC_LISTENING http://127.0.0.1:<port>
// SIGTERM/SIGINT exit.  Everything is in memory.
//
// Users (password, claims) are listed below; the login page is a plain form
// (POST prompt=login, login, password) and the consent page another one
// (POST prompt=consent), the same shapes as oidc-provider's dev interactions,
// so a scripted HTTP client can submit them.
//
// SPDX-License-Identifier: GPL-3.0-or-later

import { generateKeyPairSync } from 'node:crypto';
import * as http from 'node:http';
import { parseArgs } from 'node:util';

import Provider from 'oidc-provider';

const USERS = {
  alice: {
    password: 'alice-pw',
    claims: {
      matrix_handle: 'alice', name: 'Alice Adams', email: 'alice@example.test',
      email_verified: true, tenant_id: 'demo',
    },
  },
  bob: {
    password: 'bob-pw',
    claims: {
      matrix_handle: 'bob', name: 'Bob Brown', email: 'bob@example.test',
      email_verified: true, tenant_id: 'demo',
    },
  },
  dave: {
    password: 'dave-pw',
    claims: {
      matrix_handle: 'dave.doe', name: 'Dave Doe', email: 'dave@example.test',
      email_verified: true, tenant_id: 'demo',
    },
  },
  erin: {
    password: 'erin-pw',
    claims: {
      matrix_handle: 'erin', name: 'Erin Evans', email: 'erin@other.test',
      email_verified: true, tenant_id: 'other',
    },
  },
};

const { values: opts } = parseArgs({
  options: {
    port: { type: 'string', default: process.env.OM_OIDC_PORT || '0' },
    'client-id': { type: 'string', default: process.env.OM_OIDC_CLIENT_ID || 'matrix_synapse' },
    'client-secret': { type: 'string', default: process.env.OM_OIDC_CLIENT_SECRET || 'om-test-secret' },
    'redirect-uri': { type: 'string', multiple: true, default: [] },
  },
});

let redirectUris = opts['redirect-uri'];
if (redirectUris.length === 0) {
  redirectUris = (process.env.OM_OIDC_REDIRECT_URIS || '').split(/\s+/).filter(Boolean);
}
if (redirectUris.length === 0) {
  redirectUris = ['http://127.0.0.1:8008/_synapse/client/oidc/callback'];
}

function esc(s) {
  return String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function page(title, body) {
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>OpenMeet – ${esc(title)}</title></head>
<body><h1>OpenMeet</h1><h2>${esc(title)}</h2>
${body}
</body></html>
`;
}

function loginPage(uid, clientName, error) {
  return page('Sign in', `${error ? `<p class="error">${esc(error)}</p>` : ''}
<p>Sign in to continue to ${esc(clientName)}.</p>
<form method="post" action="/interaction/${esc(uid)}" autocomplete="off">
<input type="hidden" name="prompt" value="login">
<label>Username <input name="login" required autofocus></label>
<label>Password <input type="password" name="password" required></label>
<button type="submit">Sign in</button>
</form>
<form method="post" action="/interaction/${esc(uid)}/abort"><button type="submit">Cancel</button></form>`);
}

function consentPage(uid, clientName, scopes) {
  return page('Authorize', `<p>${esc(clientName)} asks for: ${esc(scopes.join(' '))}</p>
<form method="post" action="/interaction/${esc(uid)}">
<input type="hidden" name="prompt" value="consent">
<button type="submit">Continue</button>
</form>
<form method="post" action="/interaction/${esc(uid)}/abort"><button type="submit">Cancel</button></form>`);
}

async function readForm(req) {
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > 65536) throw new Error('form too large');
    chunks.push(chunk);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

// The login and consent pages (instead of oidc-provider's devInteractions,
// which accept any password).
function interactions(provider) {
  return async (ctx, next) => {
    const m = /^\/interaction\/([A-Za-z0-9_-]+)(\/abort)?$/.exec(ctx.path);
    if (!m) {
      await next();
      return;
    }
    ctx.set('cache-control', 'no-store');
    const details = await provider.interactionDetails(ctx.req, ctx.res);
    const { uid, prompt, params, session } = details;
    if (uid !== m[1]) ctx.throw(400, 'interaction mismatch');
    const client = await provider.Client.find(params.client_id);
    const clientName = client?.clientName || params.client_id;
    let result;

    if (m[2]) {
      if (ctx.method !== 'POST') ctx.throw(405);
      result = { error: 'access_denied', error_description: 'End-User aborted interaction' };
    } else if (ctx.method === 'GET') {
      ctx.type = 'html';
      ctx.body = prompt.name === 'login'
        ? loginPage(uid, clientName)
        : consentPage(uid, clientName, String(params.scope || '').split(' '));
      return;
    } else if (ctx.method !== 'POST') {
      ctx.throw(405);
    } else {
      const form = await readForm(ctx.req);
      if (form.get('prompt') !== prompt.name) ctx.throw(400, 'unexpected prompt');
      if (prompt.name === 'login') {
        const login = form.get('login') || '';
        const user = Object.hasOwn(USERS, login) ? USERS[login] : undefined;
        if (!user || user.password !== form.get('password')) {
          ctx.status = 401;
          ctx.type = 'html';
          ctx.body = loginPage(uid, clientName, 'Wrong username or password.');
          return;
        }
        result = { login: { accountId: login } };
      } else if (prompt.name === 'consent') {
        const grant = details.grantId
          ? await provider.Grant.find(details.grantId)
          : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
        const d = prompt.details;
        if (d.missingOIDCScope) grant.addOIDCScope(d.missingOIDCScope.join(' '));
        if (d.missingOIDCClaims) grant.addOIDCClaims(d.missingOIDCClaims);
        if (d.missingResourceScopes) {
          for (const [indicator, scope] of Object.entries(d.missingResourceScopes)) {
            grant.addResourceScope(indicator, scope.join(' '));
          }
        }
        result = { consent: { grantId: await grant.save() } };
      } else {
        ctx.throw(501, 'not implemented');
      }
    }
    const returnTo = await provider.interactionResult(ctx.req, ctx.res, result, {
      mergeWithLastSubmission: prompt.name === 'consent',
    });
    ctx.status = 303;
    ctx.redirect(returnTo);
  };
}

const server = http.createServer();
server.listen(Number(opts.port), '127.0.0.1', () => {
  const issuer = `http://127.0.0.1:${server.address().port}`;
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = { ...privateKey.export({ format: 'jwk' }), kid: 'om-test-1', use: 'sig', alg: 'RS256' };

  const provider = new Provider(issuer, {
    clients: [{
      client_id: opts['client-id'],
      client_secret: opts['client-secret'],
      client_name: 'OpenMeet Chat homeserver',
      redirect_uris: redirectUris,
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
    }],
    jwks: { keys: [jwk] },
    cookies: { keys: ['om-test-oidc-cookie-key'] },
    claims: {
      openid: ['sub'],
      profile: ['name', 'matrix_handle', 'tenant_id'],
      email: ['email', 'email_verified'],
    },
    scopes: ['openid', 'offline_access', 'profile', 'email'],
    findAccount: async (_ctx, sub) => {
      if (!Object.hasOwn(USERS, sub)) return undefined;
      return {
        accountId: sub,
        claims: async () => ({ sub, ...USERS[sub].claims }),
      };
    },
    features: {
      devInteractions: { enabled: false },
      registration: { enabled: true },
      deviceFlow: { enabled: true },
      introspection: { enabled: true },
      revocation: { enabled: true },
      rpInitiatedLogout: { enabled: true },
    },
    interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
    // Refresh tokens for every client allowed the grant, with or without
    // offline_access (as Matrix's OAuth 2.0 API expects).
    issueRefreshToken: async (_ctx, client) => client.grantTypeAllowed('refresh_token'),
    pkce: { required: (_ctx, client) => client.clientAuthMethod === 'none' },
    ttl: { AccessToken: 300, AuthorizationCode: 120, DeviceCode: 600, RefreshToken: 86400, IdToken: 300 },
  });
  provider.use(interactions(provider));
  provider.on('server_error', (_ctx, err) => console.error('oidc-provider server_error:', err));
  server.on('request', provider.callback());
  process.stdout.write(`OM_TEST_OIDC_LISTENING ${issuer}\n`);
});

for (const sig of ['SIGTERM', 'SIGINT']) {
  process.on(sig, () => {
    server.closeAllConnections();
    server.close(() => process.exit(0));
  });
}
