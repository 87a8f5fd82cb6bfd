#!/usr/bin/env node
// A Tyk-compatible gRPC coprocess plugin server for Weir, in Node (@grpc/grpc-js).
// It loads the .proto at run time with @grpc/proto-loader and dispatches on hook_name, as a
// plugin server written for Tyk does.
//
// Usage: node server.js --listen 127.0.0.1:0   (or --listen unix:/tmp/plugin.sock)
// Prints `LISTENING <address>` once serving.
'use strict';

const path = require('path');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');

function arg(name, fallback) {
  const i = process.argv.indexOf(name);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback;
}

const listen = arg('--listen', null);
if (!listen) {
  console.error('usage: server.js --listen host:port|unix:/path.sock [--proto-dir DIR]');
  process.exit(2);
}
const protoDir = arg('--proto-dir', path.join(__dirname, '..', '..', '..', 'crates', 'weir-plugin-grpc', 'proto'));

const definition = protoLoader.loadSync(path.join(protoDir, 'coprocess.proto'), {
  keepCase: true, // Tyk's field names (set_headers, return_overrides, ...)
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
});
const coprocess = grpc.loadPackageDefinition(definition).coprocess;

function myPreHook(obj, call) {
  const req = obj.request;
  req.set_headers['X-Pre'] = 'done-by-node';
  req.add_params['added'] = 'node';
  req.delete_headers.push('X-Remove');
  req.set_headers['X-Seen-Host'] = req.headers['Host'] || '';
  req.set_headers['X-Seen-Hook-Type'] = String(obj.hook_type);
  // The HTTP/2 :authority the gateway sent (tyk.conf grpc_authority).
  req.set_headers['X-Seen-Authority'] = call.getHost();
  return obj;
}

function myAuthCheck(obj) {
  const auth = obj.request.headers['Authorization'] || '';
  if (auth === 'good-token') {
    obj.session = {
      rate: 100,
      per: 1,
      quota_max: '1000',
      quota_renewal_rate: '3600',
      metadata: { user: 'node-alice' },
    };
    obj.metadata = Object.assign({}, obj.metadata, { token: auth });
  } else {
    obj.request.return_overrides.response_code = 403;
    obj.request.return_overrides.response_error = 'Not authorised by the node plugin';
  }
  return obj;
}

const hooks = { MyPreHook: myPreHook, MyAuthCheck: myAuthCheck };

const server = new grpc.Server();
server.addService(coprocess.Dispatcher.service, {
  Dispatch(call, callback) {
    const hook = hooks[call.request.hook_name];
    // Unknown hooks pass the Object through unchanged.
    callback(null, hook ? hook(call.request, call) : call.request);
  },
  DispatchEvent(call, callback) {
    callback(null, {});
  },
});

server.bindAsync(listen, grpc.ServerCredentials.createInsecure(), (err, port) => {
  if (err) {
    console.error(`cannot listen on ${listen}: ${err.message}`);
    process.exit(1);
  }
  const address = listen.startsWith('unix:') ? listen : `${listen.slice(0, listen.lastIndexOf(':'))}:${port}`;
  console.log(`LISTENING ${address}`);
});
