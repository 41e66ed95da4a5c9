// provider.mjs — "OpenMeet", the OpenID provider the tests sign in through.
//
// A real oidc-provider instance (certified OpenID Connect implementation) on
// 127.0.0.1, playing the part of OpenMeet's identity service: the homeserver
// (like Synapse's oidc_providers) uses it as a confidential client, and
// native OIDC clients can register dynamically.
//
//   node provider.mjs [--port N] [--client-id ID] [--client-secret S]
//                     [--redirect-uri URI]... [--access-token-ttl SECONDS]
//                     [--matrix-scopes stable|unstable]
//                     [--advertise-matrix-scopes yes|no]
//                     [--device-code-ttl SECONDS] [--device-poll-interval SECONDS]
//
// Options fall back to OM_OIDC_PORT, OM_OIDC_CLIENT_ID, OM_OIDC_CLIENT_SECRET,
// OM_OIDC_REDIRECT_URIS (space-separated), OM_OIDC_ACCESS_TOKEN_TTL,
// OM_OIDC_MATRIX_SCOPES and OM_OIDC_ADVERTISE_MATRIX_SCOPES.  Port 0 (the
// default) picks a free one.  When listening it prints exactly one line on
// stdout:
//   OM_TEST_OIDC_LISTENING http://127.0.0.1:<port>
// SIGTERM/SIGINT exit.  Everything is in memory.
//
// Users (password, claims) are listed below; the login page is a plain form
// (POST prompt=login, login, password) and the consent page another one
// (POST prompt=consent), the same shapes as oidc-provider's dev interactions,
// so a scripted HTTP client can submit them.
//
// Matrix's OAuth 2.0 API (MSC3861 "next-generation auth"): the scopes
// urn:matrix:client:api:*, urn:matrix:client:device:<ID> (exactly one, ID of
// 10+ characters from [A-Za-z0-9-]) and urn:synapse:admin:*, and the
// unstable urn:matrix:org.matrix.msc2967.client:{api:*,device:<ID>}, belong
// to one resource server, MATRIX_RESOURCE, which every request carrying
// such a scope gets by default (clients need not send `resource`).  Its
// access tokens are opaque; introspection adds `username` (the account's
// matrix_handle).  With --matrix-scopes unstable the stable names are
// refused with invalid_scope.  Refresh tokens rotate on every use.
//
// Device grant: --device-code-ttl sets how long a device code lives (600 s);
// --device-poll-interval N (0: off) makes the device authorization answer
// carry interval N and answers slow_down (RFC 8628 §3.5) to a client that
// polls one device code again sooner than that.
//
// Test control (no auth): GET /_test/stats, POST /_test/revoke_all?sub=ID
// (every token of that account is revoked).  GET /account is the account
// management page (account_management_uri in discovery).
//
// SPDX-License-Identifier: GPL-3.0-or-later

import { createPrivateKey, generateKeyPairSync } from 'node:crypto';
import * as http from 'node:http';
import { parseArgs } from 'node:util';

import Provider, { errors } from 'oidc-provider';

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
    'access-token-ttl': { type: 'string', default: process.env.OM_OIDC_ACCESS_TOKEN_TTL || '300' },
    'matrix-scopes': { type: 'string', default: process.env.OM_OIDC_MATRIX_SCOPES || 'stable' },
    'advertise-matrix-scopes': {
      type: 'string', default: process.env.OM_OIDC_ADVERTISE_MATRIX_SCOPES || 'yes',
    },
    'device-code-ttl': { type: 'string', default: '600' },
    'device-poll-interval': { type: 'string', default: '0' },
  },
});

const deviceCodeTtl = Number(opts['device-code-ttl']);
const devicePollInterval = Number(opts['device-poll-interval']);
if (!Number.isInteger(deviceCodeTtl) || deviceCodeTtl <= 0) {
  throw new Error('--device-code-ttl must be a positive integer');
}
if (!Number.isInteger(devicePollInterval) || devicePollInterval < 0) {
  throw new Error('--device-poll-interval must be a non-negative integer');
}
// device_code → when it was last polled (ms), for slow_down.
const lastPoll = new Map();

const accessTokenTtl = Number(opts['access-token-ttl']);
if (!Number.isInteger(accessTokenTtl) || accessTokenTtl <= 0) {
  throw new Error('--access-token-ttl must be a positive integer');
}
if (!['stable', 'unstable'].includes(opts['matrix-scopes'])) {
  throw new Error('--matrix-scopes must be stable or unstable');
}
if (!['yes', 'no'].includes(opts['advertise-matrix-scopes'])) {
  throw new Error('--advertise-matrix-scopes must be yes or no');
}
const unstableOnly = opts['matrix-scopes'] === 'unstable';
const advertiseMatrixScopes = opts['advertise-matrix-scopes'] === 'yes';

// Matrix scopes (MSC2967), all served by one resource server.
const MATRIX_RESOURCE = 'urn:matrix:homeserver';
const STABLE_API = 'urn:matrix:client:api:*';
const STABLE_DEVICE = 'urn:matrix:client:device:';
const UNSTABLE_API = 'urn:matrix:org.matrix.msc2967.client:api:*';
const UNSTABLE_DEVICE = 'urn:matrix:org.matrix.msc2967.client:device:';
const SYNAPSE_ADMIN = 'urn:synapse:admin:*';
const STATIC_MATRIX_SCOPES = unstableOnly
  ? [UNSTABLE_API, SYNAPSE_ADMIN]
  : [STABLE_API, UNSTABLE_API, SYNAPSE_ADMIN];
const DEVICE_PREFIXES = unstableOnly ? [UNSTABLE_DEVICE] : [STABLE_DEVICE, UNSTABLE_DEVICE];
const DEVICE_ID = /^[A-Za-z0-9-]{10,}$/;

function isMatrixScope(scope) {
  return scope.startsWith('urn:matrix:') || scope.startsWith('urn:synapse:');
}

function devicePrefixOf(scope) {
  return [STABLE_DEVICE, UNSTABLE_DEVICE].find((p) => scope.startsWith(p));
}

// The Matrix scopes of a request; throws invalid_scope for ones we refuse
// (stable names in unstable mode, a malformed or second device scope, an
// unknown urn:matrix: scope).
function checkMatrixScopes(scopeParam) {
  const requested = String(scopeParam || '').split(' ').filter(isMatrixScope);
  const devices = [];
  for (const scope of requested) {
    const prefix = devicePrefixOf(scope);
    if (prefix) {
      if (!DEVICE_PREFIXES.includes(prefix)) {
        throw new errors.InvalidScope('requested scope is not supported', scope);
      }
      if (!DEVICE_ID.test(scope.slice(prefix.length))) {
        throw new errors.InvalidScope('the device ID must be 10 or more characters from [A-Za-z0-9-]', scope);
      }
      devices.push(scope);
    } else if (!STATIC_MATRIX_SCOPES.includes(scope)) {
      throw new errors.InvalidScope('requested scope is not supported', scope);
    }
  }
  if (new Set(devices).size > 1) {
    throw new errors.InvalidScope('only one device scope may be requested', devices.join(' '));
  }
  return requested;
}

// Device scopes whatever stage of a flow we are in: the request, or the
// code, device code, refresh token or grant it continues.
function deviceScopesInContext(ctx) {
  const sources = [ctx.oidc.params?.scope];
  const { entities } = ctx.oidc;
  for (const kind of ['AuthorizationCode', 'DeviceCode', 'RefreshToken', 'RotatedRefreshToken']) {
    sources.push(entities[kind]?.scope);
  }
  sources.push(entities.Grant?.getResourceScopeEncountered?.(MATRIX_RESOURCE));
  const found = new Set();
  for (const source of sources) {
    for (const scope of String(source || '').split(' ')) {
      const prefix = devicePrefixOf(scope);
      if (prefix && DEVICE_PREFIXES.includes(prefix) && DEVICE_ID.test(scope.slice(prefix.length))) {
        found.add(scope);
      }
    }
  }
  return [...found];
}

// What /_test/stats reports.
const stats = {
  grants: {
    authorization_code: 0,
    refresh_token: 0,
    'urn:ietf:params:oauth:grant-type:device_code': 0,
  },
  revocations: 0,
  registrations: 0,
  introspections: 0,
};
// accountId -> Set of grant IDs that issued tokens (for /_test/revoke_all).
const grantsByAccount = new Map();

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

function deviceInputPage(ctx, form, _out, err) {
  let title = 'Connect a device';
  let msg = '<p>Enter the code shown on your device.</p>';
  if (err?.name === 'AbortedError') {
    title = 'Sign-in aborted';
    msg = '<p class="aborted">The sign-in request was aborted. You can close this page.</p>';
  } else if (err && (err.userCode || err.name === 'NoCodeError' || err.name === 'NotFoundError')) {
    msg = '<p class="error">The code you entered is incorrect. Try again.</p>';
  } else if (err) {
    msg = `<p class="error">${esc(err.error_description || err.message || 'There was an error processing your request.')}</p>`;
  }
  ctx.type = 'html';
  ctx.body = page(title, `${msg}
${form}
<button type="submit" form="op.deviceInputForm">Continue</button>`);
}

function deviceConfirmPage(ctx, form, client, _deviceInfo, userCode) {
  ctx.type = 'html';
  ctx.body = page('Confirm device', `<p>${esc(client.clientName || client.clientId)} wants to sign in.
Check that your device shows the code <code>${esc(userCode)}</code>.</p>
${form}
<button type="submit" form="op.deviceConfirmForm">Continue</button>
<button type="submit" form="op.deviceConfirmForm" name="abort" value="yes">Abort</button>`);
}

function deviceSuccessPage(ctx) {
  ctx.type = 'html';
  ctx.body = page('Device connected', `<p class="success">${esc(ctx.oidc.client.clientName || ctx.oidc.client.clientId)}
is signed in. You can close this page.</p>`);
}

function accountPage() {
  return page('OpenMeet account', `<p>Manage your OpenMeet account: profile, sessions and devices.</p>
<ul><li><a href="/account?action=org.matrix.profile">Profile</a></li>
<li><a href="/account?action=org.matrix.sessions_list">Sessions</a></li></ul>`);
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

// /_test/ endpoints, /account, and the counters of /_test/stats.
function testControl(provider, issuer) {
  return async (ctx, next) => {
    if (ctx.path === '/_test/stats' && ctx.method === 'GET') {
      ctx.set('cache-control', 'no-store');
      ctx.body = stats;
      return;
    }
    if (ctx.path === '/_test/revoke_all' && ctx.method === 'POST') {
      const sub = ctx.query.sub;
      if (typeof sub !== 'string' || !sub) ctx.throw(400, 'sub missing');
      const grants = [...(grantsByAccount.get(sub) || [])];
      await Promise.all(grants.map((grantId) => Promise.all([
        provider.AccessToken.revokeByGrantId(grantId),
        provider.RefreshToken.revokeByGrantId(grantId),
        provider.AuthorizationCode.revokeByGrantId(grantId),
        provider.DeviceCode.revokeByGrantId(grantId),
        provider.Grant.adapter.destroy(grantId),
      ])));
      grantsByAccount.delete(sub);
      ctx.body = { revoked_grants: grants.length };
      return;
    }
    if (ctx.path === '/account' && ctx.method === 'GET') {
      ctx.type = 'html';
      ctx.body = accountPage();
      return;
    }
    await next();
    if (devicePollInterval > 0 && ctx.path === '/device/auth' && ctx.status === 200 && ctx.body) {
      ctx.body.interval = devicePollInterval;
    }
    if (devicePollInterval > 0 && ctx.path === '/token' && ctx.status === 400
        && ctx.oidc?.params?.grant_type === 'urn:ietf:params:oauth:grant-type:device_code'
        && ctx.body?.error === 'authorization_pending') {
      const code = ctx.oidc.params.device_code;
      const now = Date.now();
      const last = lastPoll.get(code);
      lastPoll.set(code, now);
      if (last !== undefined && now - last < devicePollInterval * 1000) {
        stats.slow_downs = (stats.slow_downs || 0) + 1;
        ctx.body = { error: 'slow_down', error_description: 'you are polling too quickly' };
      }
    }
    if (ctx.path === '/.well-known/openid-configuration' && ctx.status === 200 && ctx.body) {
      const meta = ctx.body;
      if (advertiseMatrixScopes) {
        meta.scopes_supported = [...meta.scopes_supported, ...STATIC_MATRIX_SCOPES, ...DEVICE_PREFIXES];
      }
      meta.account_management_uri = `${issuer}/account`;
      meta.account_management_actions_supported = [
        'org.matrix.profile', 'org.matrix.sessions_list', 'org.matrix.session_view',
        'org.matrix.session_end', 'org.matrix.account_deactivate', 'org.matrix.cross_signing_reset',
      ];
    } else if (ctx.path === '/token/introspection' && ctx.status === 200) {
      stats.introspections += 1;
    } else if (ctx.path === '/token/revocation' && ctx.status === 200) {
      stats.revocations += 1;
    }
  };
}

// The signing key, made before listening.  Not privateKey.export() on the
// KeyObject generateKeyPairSync() returns: in Node.js 20 that object shares
// its lock with the (weak) key-generation job, and a garbage collection
// during the JWK export that finalizes the job deadlocks the main thread on
// that lock (seen as a provider that binds its port but never reports
// listening, and ignores SIGTERM).  Asking for PEM encodes inside the job;
// createPrivateKey() makes a key object of its own.
const { privateKey: privatePem } = generateKeyPairSync('rsa', {
  modulusLength: 2048,
  publicKeyEncoding: { type: 'spki', format: 'pem' },
  privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
});
const jwk = {
  ...createPrivateKey(privatePem).export({ format: 'jwk' }), kid: 'om-test-1', use: 'sig', alg: 'RS256',
};

const server = http.createServer();
server.listen(Number(opts.port), '127.0.0.1', () => {
  const issuer = `http://127.0.0.1:${server.address().port}`;

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
    // Native Matrix clients ask for no offline_access: their tokens must
    // outlive the browser session all the same.
    expiresWithSession: async () => false,
    rotateRefreshToken: () => true,
    extraTokenClaims: async (_ctx, token) => {
      if (token.kind !== 'AccessToken' || !Object.hasOwn(USERS, token.accountId)) return undefined;
      return { username: USERS[token.accountId].claims.matrix_handle };
    },
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
      deviceFlow: {
        enabled: true,
        userCodeInputSource: deviceInputPage,
        userCodeConfirmSource: deviceConfirmPage,
        successSource: deviceSuccessPage,
      },
      resourceIndicators: {
        enabled: true,
        // Requests with a Matrix scope get the homeserver as their resource.
        defaultResource: async (ctx, _client, oneOf) => {
          if (oneOf) return oneOf.includes(MATRIX_RESOURCE) ? MATRIX_RESOURCE : oneOf[0];
          const scopes = String(ctx.oidc.params?.scope || '').split(' ');
          return scopes.some(isMatrixScope) ? MATRIX_RESOURCE : undefined;
        },
        useGrantedResource: async () => true,
        getResourceServerInfo: async (ctx, identifier) => {
          if (identifier !== MATRIX_RESOURCE) throw new errors.InvalidTarget();
          checkMatrixScopes(ctx.oidc.params?.scope);
          return {
            scope: [...STATIC_MATRIX_SCOPES, ...deviceScopesInContext(ctx)].join(' '),
            audience: MATRIX_RESOURCE,
            accessTokenFormat: 'opaque',
            accessTokenTTL: accessTokenTtl,
          };
        },
      },
      introspection: { enabled: true },
      revocation: { enabled: true },
      rpInitiatedLogout: { enabled: true },
    },
    interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
    // Errors that cannot go back to the client (e.g. an unregistered
    // redirect_uri), as a plain page.
    renderError: async (ctx, out) => {
      ctx.type = 'html';
      ctx.body = page('Error', `<p class="error"><code>${esc(out.error)}</code>: ${esc(out.error_description || '')}</p>`);
    },
    // Refresh tokens for every client allowed the grant, with or without
    // offline_access (as Matrix's OAuth 2.0 API expects).
    issueRefreshToken: async (_ctx, client) => client.grantTypeAllowed('refresh_token'),
    pkce: { required: (_ctx, client) => client.clientAuthMethod === 'none' },
    ttl: { AccessToken: accessTokenTtl, AuthorizationCode: 120, DeviceCode: deviceCodeTtl, RefreshToken: 86400, IdToken: 300 },
  });
  provider.use(testControl(provider, issuer));
  provider.use(interactions(provider));
  provider.on('server_error', (_ctx, err) => console.error('oidc-provider server_error:', err));
  provider.on('grant.success', (ctx) => {
    const gty = ctx.oidc.params?.grant_type;
    if (Object.hasOwn(stats.grants, gty)) stats.grants[gty] += 1;
    const grant = ctx.oidc.entities.Grant;
    if (grant?.accountId) {
      if (!grantsByAccount.has(grant.accountId)) grantsByAccount.set(grant.accountId, new Set());
      grantsByAccount.get(grant.accountId).add(grant.jti);
    }
  });
  provider.on('registration_create.success', () => { stats.registrations += 1; });
  server.on('request', provider.callback());
  process.stdout.write(`OM_TEST_OIDC_LISTENING ${issuer}\n`);
});

for (const sig of ['SIGTERM', 'SIGINT']) {
  process.on(sig, () => {
    server.closeAllConnections();
    server.close(() => process.exit(0));
  });
}
