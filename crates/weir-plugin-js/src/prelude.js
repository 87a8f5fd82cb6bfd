// Weir's JavaScript prelude: Tyk's JSVM middleware API (TykJS.TykMiddleware, TykJsResponse) and
// WeirProto, a small protobuf codec for stream hooks. Runs in every context before the plugin's
// files. The names and shapes follow Tyk's JSVM documentation; the code is Weir's own.

var TykJS = {
  TykMiddleware: {
    MiddlewareComponentMeta: function (configuration) {
      this.configuration = configuration;
    },
  },
  TykEventHandlers: {
    EventHandlerComponentMeta: function () {},
  },
};

(function () {
  var Base = TykJS.TykMiddleware.MiddlewareComponentMeta;
  Base.prototype.ProcessRequest = function (request) {
    log("Process Request Not Implemented");
    return request;
  };
  Base.prototype.ProcessResponse = function (response) {
    log("Process Response Not Implemented");
    return response;
  };
  // The driver calls these two; the objects they return go back as JSON.
  Base.prototype.DoProcessRequest = function (request, session, config) {
    return this.ProcessRequest(request, session, config);
  };
  Base.prototype.DoProcessResponse = function (response, request, session, config) {
    return this.ProcessResponse(response, request, session, config);
  };

  var Mw = function (configuration) {
    Base.call(this, configuration);
  };
  Mw.prototype = Object.create(Base.prototype);
  Mw.prototype.constructor = Mw;
  Mw.prototype.NewProcessRequest = function (callback) {
    this.ProcessRequest = callback;
  };
  Mw.prototype.NewProcessResponse = function (callback) {
    this.ProcessResponse = callback;
  };
  Mw.prototype.ReturnData = function (request, sessionMeta) {
    return { Request: request, SessionMeta: sessionMeta };
  };
  Mw.prototype.ReturnResponseData = function (response, sessionMeta) {
    return { Response: response, SessionMeta: sessionMeta };
  };
  Mw.prototype.ReturnAuthData = function (request, session) {
    return { Request: request, Session: session };
  };
  TykJS.TykMiddleware.NewMiddleware = Mw;

  var EvBase = TykJS.TykEventHandlers.EventHandlerComponentMeta;
  EvBase.prototype.Handle = function (event) {
    log("Handler not implemented!");
    return event;
  };
  EvBase.prototype.DoProcessEvent = function (event, context) {
    this.Handle(event, context);
  };
  var Ev = function () {
    EvBase.call(this);
  };
  Ev.prototype = Object.create(EvBase.prototype);
  Ev.prototype.constructor = Ev;
  Ev.prototype.NewHandler = function (callback) {
    this.Handle = callback;
  };
  TykJS.TykEventHandlers.NewEventHandler = Ev;
})();

// A virtual endpoint's answer, as Tyk's helper of the same name builds it.
function TykJsResponse(response, session_meta) {
  return JSON.stringify({ Response: response, SessionMeta: session_meta });
}

// Protobuf for stream hooks. A schema maps field numbers to {name, type, schema?, repeated?};
// types: string, bytes, bool, enum, int32, int64, uint32, uint64, sint32, sint64, fixed32,
// fixed64, sfixed32, sfixed64, float, double, message (with its own schema). 64-bit integers
// decode to Numbers while they are exact, to decimal strings beyond that; encode accepts
// Numbers, BigInts and decimal strings. Unknown fields are skipped when decoding.
var WeirProto = (function () {
  var VARINT = { bool: 1, enum: 1, int32: 1, int64: 1, uint32: 1, uint64: 1, sint32: 1, sint64: 1 };
  var FIXED64 = { fixed64: 1, sfixed64: 1, double: 1 };
  var FIXED32 = { fixed32: 1, sfixed32: 1, float: 1 };
  var M64 = (1n << 64n) - 1n;

  function wireOf(type) {
    if (VARINT[type]) return 0;
    if (FIXED64[type]) return 1;
    if (FIXED32[type]) return 5;
    if (type === "string" || type === "bytes" || type === "message") return 2;
    throw new TypeError("WeirProto: unknown field type `" + type + "`");
  }

  function Reader(bytes) {
    if (!(bytes instanceof Uint8Array)) throw new TypeError("WeirProto.decode: bytes must be a Uint8Array");
    this.buf = bytes;
    this.pos = 0;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  Reader.prototype.need = function (n) {
    if (this.pos + n > this.buf.length) throw new RangeError("WeirProto.decode: truncated message");
  };
  Reader.prototype.varint = function () {
    var out = 0n;
    for (var shift = 0n; shift < 70n; shift += 7n) {
      this.need(1);
      var b = this.buf[this.pos++];
      out |= BigInt(b & 0x7f) << shift;
      if (b < 0x80) return out & M64;
    }
    throw new RangeError("WeirProto.decode: varint too long");
  };
  Reader.prototype.take = function (n) {
    this.need(n);
    var out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  };
  Reader.prototype.skip = function (wire) {
    if (wire === 0) this.varint();
    else if (wire === 1) this.take(8);
    else if (wire === 5) this.take(4);
    else if (wire === 2) this.take(Number(this.varint()));
    else throw new RangeError("WeirProto.decode: unsupported wire type " + wire);
  };

  function num(big) {
    var n = Number(big);
    return Number.isSafeInteger(n) ? n : big.toString();
  }

  function scalar(r, type) {
    var v, d;
    switch (type) {
      case "bool": return r.varint() !== 0n;
      case "enum": case "int32": return Number(BigInt.asIntN(32, r.varint()));
      case "uint32": return Number(BigInt.asUintN(32, r.varint()));
      case "int64": return num(BigInt.asIntN(64, r.varint()));
      case "uint64": return num(r.varint());
      case "sint32": case "sint64":
        v = r.varint();
        return num((v >> 1n) ^ -(v & 1n));
      case "fixed32": d = r.take(4); return new DataView(d.buffer, d.byteOffset, 4).getUint32(0, true);
      case "sfixed32": d = r.take(4); return new DataView(d.buffer, d.byteOffset, 4).getInt32(0, true);
      case "float": d = r.take(4); return new DataView(d.buffer, d.byteOffset, 4).getFloat32(0, true);
      case "fixed64": d = r.take(8); return num(new DataView(d.buffer, d.byteOffset, 8).getBigUint64(0, true));
      case "sfixed64": d = r.take(8); return num(new DataView(d.buffer, d.byteOffset, 8).getBigInt64(0, true));
      case "double": d = r.take(8); return new DataView(d.buffer, d.byteOffset, 8).getFloat64(0, true);
    }
    throw new TypeError("WeirProto: unknown field type `" + type + "`");
  }

  var utf8 = {
    decode: function (b) {
      var s = "", i = 0;
      while (i < b.length) {
        var c = b[i++], cp;
        if (c < 0x80) cp = c;
        else if (c >= 0xc0 && c < 0xe0 && i < b.length) cp = ((c & 0x1f) << 6) | (b[i++] & 0x3f);
        else if (c >= 0xe0 && c < 0xf0 && i + 1 < b.length) {
          cp = ((c & 0x0f) << 12) | ((b[i] & 0x3f) << 6) | (b[i + 1] & 0x3f);
          i += 2;
        } else if (c >= 0xf0 && i + 2 < b.length) {
          cp = ((c & 0x07) << 18) | ((b[i] & 0x3f) << 12) | ((b[i + 1] & 0x3f) << 6) | (b[i + 2] & 0x3f);
          i += 3;
        } else cp = 0xfffd;
        s += String.fromCodePoint(cp);
      }
      return s;
    },
    encode: function (text) {
      var out = [], str = String(text);
      for (var i = 0; i < str.length; i++) {
        var cp = str.codePointAt(i);
        if (cp > 0xffff) i++;
        if (cp < 0x80) out.push(cp);
        else if (cp < 0x800) out.push(0xc0 | (cp >> 6), 0x80 | (cp & 0x3f));
        else if (cp < 0x10000) out.push(0xe0 | (cp >> 12), 0x80 | ((cp >> 6) & 0x3f), 0x80 | (cp & 0x3f));
        else out.push(0xf0 | (cp >> 18), 0x80 | ((cp >> 12) & 0x3f), 0x80 | ((cp >> 6) & 0x3f), 0x80 | (cp & 0x3f));
      }
      return Uint8Array.from(out);
    },
  };

  function decode(bytes, schema) {
    var r = bytes instanceof Reader ? bytes : new Reader(bytes);
    var out = {};
    for (var key in schema) {
      var f = schema[key];
      if (f.repeated) out[f.name] = [];
    }
    while (r.pos < r.buf.length) {
      var tag = Number(r.varint());
      var no = tag >>> 3, wire = tag & 7;
      var field = schema[no];
      if (!field) { r.skip(wire); continue; }
      var type = field.type, want = wireOf(type), value;
      if (wire === 2 && want !== 2 && field.repeated) {
        // A packed run of scalars.
        var sub = new Reader(r.take(Number(r.varint())));
        while (sub.pos < sub.buf.length) out[field.name].push(scalar(sub, type));
        continue;
      }
      if (wire !== want) throw new RangeError("WeirProto.decode: field " + no + " has wire type " + wire + ", expected " + want);
      if (want === 2) {
        var data = r.take(Number(r.varint()));
        if (type === "string") value = utf8.decode(data);
        else if (type === "bytes") value = new Uint8Array(data);
        else value = decode(data, field.schema || {});
      } else {
        value = scalar(r, type);
      }
      if (field.repeated) out[field.name].push(value);
      else out[field.name] = value;
    }
    return out;
  }

  function Writer() {
    this.parts = [];
    this.len = 0;
  }
  Writer.prototype.bytes = function (b) {
    this.parts.push(b);
    this.len += b.length;
  };
  Writer.prototype.varint = function (big) {
    var v = BigInt.asUintN(64, big);
    var tmp = [];
    do {
      var b = Number(v & 0x7fn);
      v >>= 7n;
      tmp.push(v ? b | 0x80 : b);
    } while (v);
    this.bytes(Uint8Array.from(tmp));
  };
  Writer.prototype.finish = function () {
    var out = new Uint8Array(this.len), at = 0;
    for (var i = 0; i < this.parts.length; i++) {
      out.set(this.parts[i], at);
      at += this.parts[i].length;
    }
    return out;
  };

  function big(v) {
    if (typeof v === "bigint") return v;
    if (typeof v === "boolean") return v ? 1n : 0n;
    if (typeof v === "number") return BigInt(Math.trunc(v));
    return BigInt(String(v));
  }

  function fixed(n, fill) {
    var b = new Uint8Array(n);
    fill(new DataView(b.buffer));
    return b;
  }

  function writeScalar(w, type, v) {
    switch (type) {
      case "sint32": case "sint64":
        var s = big(v);
        w.varint((s << 1n) ^ (s < 0n ? -1n : 0n));
        return;
      case "fixed32": w.bytes(fixed(4, function (d) { d.setUint32(0, Number(v), true); })); return;
      case "sfixed32": w.bytes(fixed(4, function (d) { d.setInt32(0, Number(v), true); })); return;
      case "float": w.bytes(fixed(4, function (d) { d.setFloat32(0, Number(v), true); })); return;
      case "fixed64": w.bytes(fixed(8, function (d) { d.setBigUint64(0, BigInt.asUintN(64, big(v)), true); })); return;
      case "sfixed64": w.bytes(fixed(8, function (d) { d.setBigInt64(0, BigInt.asIntN(64, big(v)), true); })); return;
      case "double": w.bytes(fixed(8, function (d) { d.setFloat64(0, Number(v), true); })); return;
    }
    w.varint(big(v));
  }

  // proto3 leaves out a singular field that holds its default value.
  function isDefault(type, v) {
    if (type === "message") return false;
    if (type === "string" || type === "bytes") return v.length === 0;
    if (type === "bool") return !v;
    if (type === "float" || type === "double") return Number(v) === 0;
    return big(v) === 0n;
  }

  function encode(obj, schema) {
    var w = new Writer();
    var numbers = Object.keys(schema).map(Number).sort(function (a, b) { return a - b; });
    for (var i = 0; i < numbers.length; i++) {
      var no = numbers[i], field = schema[no], type = field.type, want = wireOf(type);
      var value = obj == null ? undefined : obj[field.name];
      if (value === undefined || value === null) continue;
      var values = field.repeated ? value : [value];
      if (field.repeated && !Array.isArray(value)) throw new TypeError("WeirProto.encode: `" + field.name + "` must be an array");
      if (field.repeated && want !== 2) {
        if (values.length === 0) continue;
        var packed = new Writer();
        for (var j = 0; j < values.length; j++) writeScalar(packed, type, values[j]);
        var body = packed.finish();
        w.varint(BigInt(no * 8 + 2));
        w.varint(BigInt(body.length));
        w.bytes(body);
        continue;
      }
      for (var k = 0; k < values.length; k++) {
        var v = values[k];
        if (!field.repeated && isDefault(type, v)) continue;
        w.varint(BigInt(no * 8 + want));
        if (want === 2) {
          var data = type === "string" ? utf8.encode(v)
            : type === "bytes" ? (v instanceof Uint8Array ? v : utf8.encode(v))
            : encode(v, field.schema || {});
          w.varint(BigInt(data.length));
          w.bytes(data);
        } else {
          writeScalar(w, type, v);
        }
      }
    }
    return w.finish();
  }

  return { decode: decode, encode: encode };
})();
