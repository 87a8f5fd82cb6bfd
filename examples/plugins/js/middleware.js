// A Tyk JSVM plugin, written for Tyk's `otto` / `javascript` drivers and run unchanged by
// Weir's JavaScript driver (QuickJS). Each hook is a global middleware object; the API
// definition names it in custom_middleware (`"name": "addHeader"`).

// pre: sets the header config_data names (X-Hello: from js here), drops the client's
// X-Remove header, and answers 403 itself when the client sends X-Block.
var addHeader = new TykJS.TykMiddleware.NewMiddleware({});
addHeader.NewProcessRequest(function (request, session, config) {
  var conf = config.config_data || {};
  request.SetHeaders[conf.header_name || "X-Hello"] = conf.header_value || "from js";
  request.DeleteHeaders.push("X-Remove");
  if (request.Headers["X-Block"] !== undefined) {
    request.ReturnOverrides.ResponseCode = 403;
    request.ReturnOverrides.ResponseError = "blocked by the js plugin";
  }
  return addHeader.ReturnData(request, session.meta_data);
});

// auth_check: accepts `Authorization: Bearer js-secret` and makes a session of 100 requests
// per second for it. `AuthValue` names the key the session is kept under.
var bearerAuth = new TykJS.TykMiddleware.NewMiddleware({});
bearerAuth.NewProcessRequest(function (request, session, config) {
  var auth = request.Headers["Authorization"];
  if (auth === undefined || auth[0] !== "Bearer js-secret") {
    request.ReturnOverrides.ResponseCode = 403;
    request.ReturnOverrides.ResponseError = "Access to this API has been disallowed";
    return bearerAuth.ReturnData(request, {});
  }
  var newSession = {
    rate: 100, per: 1, quota_max: -1, access_rights: {},
    meta_data: {user: "js-user"}
  };
  var answer = bearerAuth.ReturnAuthData(request, newSession);
  answer.AuthValue = "js-secret";
  return answer;
});

// response: tags the upstream's answer with its status and who called.
var stampResponse = new TykJS.TykMiddleware.NewMiddleware({});
stampResponse.NewProcessResponse(function (response, request, session, config) {
  response.SetHeaders["X-Js-Response"] = response.StatusCode + " " + (session.meta_data.user || "anonymous");
  return stampResponse.ReturnResponseData(response, session.meta_data);
});
