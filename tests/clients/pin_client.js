// A Node.js HTTPS client for the conformance matrix: `tls` over an HTTP CONNECT tunnel, the
// pin checked in checkServerIdentity as Node's documentation shows.
//
//   node pin_client.js PROXY_URL TRUST.pem PIN MODE=HOST...
//
// MODE is `pinned` (host-name check, then the leaf's SPKI pin) or `unpinned` (host-name check
// only); both trust exactly TRUST.pem. PIN is base64(sha256(SubjectPublicKeyInfo)).
// Prints one line per variant: "MODE HOST: HTTP/1.1 200 OK" or "MODE HOST: error message".
// MODE@TLSv1.2 (or PIN_CLIENT_MAX_TLS=TLSv1.2 in the environment) caps the version: on TLS 1.2
// Node sends its Finished before it checks the chain, so the proxy sees a completed handshake,
// then a close.
'use strict';

const crypto = require('crypto');
const fs = require('fs');
const http = require('http');
const tls = require('tls');

const [proxyUrl, trustFile, pin, ...specs] = process.argv.slice(2);
const proxy = new URL(proxyUrl);
const ca = fs.readFileSync(trustFile);

function tunnel(host) {
  return new Promise((resolve, reject) => {
    const req = http.request({
      host: proxy.hostname,
      port: proxy.port,
      method: 'CONNECT',
      path: `${host}:443`,
      headers: { Host: `${host}:443` },
    });
    req.on('connect', (res, socket) => {
      if (res.statusCode === 200) resolve(socket);
      else reject(new Error(`proxy answered ${res.statusCode}`));
    });
    req.on('error', reject);
    req.setTimeout(5000, () => req.destroy(new Error('CONNECT timed out')));
    req.end();
  });
}

function fetch(mode, host, maxVersion) {
  return tunnel(host).then((socket) => new Promise((resolve) => {
    const conn = tls.connect({
      socket,
      servername: host,
      ca,
      maxVersion: maxVersion || process.env.PIN_CLIENT_MAX_TLS || 'TLSv1.3',
      checkServerIdentity(name, cert) {
        const err = tls.checkServerIdentity(name, cert);
        if (err) return err;
        // Not cert.pubkey, as Node's documentation hashes: for an EC key that is the bare
        // point, not the SubjectPublicKeyInfo every other stack pins.
        const spki = new crypto.X509Certificate(cert.raw).publicKey
          .export({ type: 'spki', format: 'der' });
        const got = crypto.createHash('sha256').update(spki).digest('base64');
        if (mode === 'pinned' && got !== pin) {
          return new Error(`pin mismatch: sha256/${got}`);
        }
        return undefined;
      },
    });
    let answer = '';
    conn.setTimeout(5000, () => conn.destroy(new Error('timed out')));
    conn.on('secureConnect', () => {
      conn.write(`GET /v1/account HTTP/1.1\r\nHost: ${host}\r\n` +
        'Authorization: Bearer node-secret\r\nConnection: close\r\n\r\n');
    });
    conn.on('data', (chunk) => { answer += chunk; });
    conn.on('end', () => resolve(answer.split('\r\n', 1)[0] || 'closed'));
    conn.on('error', (err) => resolve(err.message));
  })).catch((err) => err.message);
}

Promise.all(specs.map((spec) => {
  const [variant, host] = spec.split('=');
  const [mode, maxVersion] = variant.split('@');
  return fetch(mode, host, maxVersion).then((result) => `${variant} ${host}: ${result}`);
})).then((lines) => console.log(lines.join('\n')));
