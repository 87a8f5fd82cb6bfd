//! Method transforms (`method_transforms`, OAS `transformRequestMethod`): a matching request
//! goes upstream with another method. As in Tyk (mw_method_transform.go) it runs after the URL
//! rewrite and matches the path and method the request had before it; response header rules
//! keep matching the original method.

use crate::exchange::{EndpointAt, Exchange};

/// Changes the method of a request whose endpoint has a method transform.
pub fn transform(ex: &mut Exchange<'_>) {
    let api = ex.api;
    let Some((_, to)) = ex.find_endpoint(&api.transforms.methods, EndpointAt::Original) else {
        return;
    };
    ex.remember_original_endpoint();
    match (&mut ex.hooks, ex.in_hook_form) {
        (Some(ctx), true) => ctx.request.method = to.as_str().to_string(),
        _ => ex.parts.method = to.clone(),
    }
}
