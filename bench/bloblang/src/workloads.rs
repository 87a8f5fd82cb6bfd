//! The workloads: each a Bloblang mapping, the equivalent VRL program, and the
//! documents both run on. Documents are compact JSON with sorted keys and no
//! integral floats, so both languages print the same bytes for the same value.

/// The user the seed's `in` stream stamps on events and its `out` stream keeps
/// (`$tyk_context.request_data_user` in the seed, resolved by the gateway).
const USER: &str = "user-42";

/// One benchmark workload.
pub struct Workload {
    /// Short name for the table.
    pub name: &'static str,
    /// The Bloblang mapping.
    pub bloblang: String,
    /// The equivalent VRL program.
    pub vrl: String,
    /// The documents, run in turn.
    pub docs: Vec<Vec<u8>>,
    /// Output fields that differ run to run (random ids): compared by shape only.
    pub random_fields: &'static [&'static str],
}

/// All workloads, in report order.
pub fn all() -> Vec<Workload> {
    vec![
        seed_in(),
        seed_worker(),
        seed_out(),
        reshape(),
        map_filter(),
    ]
}

/// A deterministic pseudo-random sequence, so every run uses the same documents.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n
    }
}

/// The job events a client pushes to the seed's `in` stream (`/push-event`).
fn job_events(n: usize) -> Vec<Vec<u8>> {
    let kinds = ["resize", "transcode", "thumbnail", "ocr"];
    let mut r = Lcg(1);
    (0..n)
        .map(|i| {
            format!(
                r#"{{"id":"evt-{i:06}","kind":"{}","payload":{{"height":{},"priority":{},"source":"s3://media/in/{i:06}.png","width":{}}},"submitted_at":"2024-05-01T12:{:02}:{:02}Z"}}"#,
                kinds[r.next(4) as usize],
                r.next(2000) + 100,
                r.next(5),
                r.next(2000) + 100,
                r.next(60),
                r.next(60),
            )
            .into_bytes()
        })
        .collect()
}

/// What the `in` stream writes to Kafka: the event with the user and a job id.
fn stamped(events: &[Vec<u8>], users: impl Fn(usize) -> String) -> Vec<Vec<u8>> {
    events
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let body = std::str::from_utf8(e).expect("utf-8");
            let inner = &body[1..body.len() - 1];
            // Keys stay sorted: job_id and kind come after id, user_id last.
            let (head, tail) = inner.split_at(inner.find(",\"kind\"").expect("kind"));
            format!(
                "{{{head},\"job_id\":\"6f1c9a4e-0b7d-4c2a-9e3f-{i:012}\"{tail},\"user_id\":\"{}\"}}",
                users(i)
            )
            .into_bytes()
        })
        .collect()
}

fn seed_in() -> Workload {
    Workload {
        name: "seed 001 `in`",
        bloblang: format!("root = this\nroot.user_id = \"{USER}\"\nroot.job_id = uuid_v4()\n"),
        vrl: format!(".user_id = \"{USER}\"\n.job_id = uuid_v4()\n"),
        docs: job_events(64),
        random_fields: &["job_id"],
    }
}

fn seed_worker() -> Workload {
    Workload {
        name: "seed 001 `Worker`",
        bloblang: "root = this.merge({ \"result\": \"bar\" })\n".into(),
        vrl: ". = merge(., { \"result\": \"bar\" })\n".into(),
        docs: stamped(&job_events(64), |_| USER.to_string()),
        random_fields: &[],
    }
}

fn seed_out() -> Workload {
    let worked: Vec<Vec<u8>> = stamped(&job_events(64), |i| {
        if i % 2 == 0 {
            USER.to_string()
        } else {
            format!("user-{}", 100 + i)
        }
    })
    .into_iter()
    .map(|d| {
        // The Worker's `result` sorts between priority-free `payload` and `submitted_at`.
        let s = String::from_utf8(d).expect("utf-8");
        s.replacen(
            ",\"submitted_at\"",
            ",\"result\":\"bar\",\"submitted_at\"",
            1,
        )
        .into_bytes()
    })
    .collect();
    Workload {
        name: "seed 001 `out`",
        bloblang: format!("root = if this.user_id != \"{USER}\" {{\n  deleted()\n}}\n"),
        vrl: format!("if .user_id != \"{USER}\" {{\n  abort\n}}\n"),
        docs: worked,
        random_fields: &[],
    }
}

/// The 50 reshaping statements, Bloblang and VRL side by side. VRL reads the
/// input through `o` (the event moved out with `del(.)`), Bloblang through `this`.
const RESHAPE: &[(&str, &str)] = &[
    ("root.id = this.order_id", ".id = o.order_id"),
    (
        "root.status = this.status.uppercase()",
        ".status = upcase!(o.status)",
    ),
    ("root.channel = this.channel", ".channel = o.channel"),
    ("root.created = this.created_at", ".created = o.created_at"),
    (
        "root.customer.id = this.customer.id",
        ".customer.id = o.customer.id",
    ),
    (
        "root.customer.name = this.customer.name",
        ".customer.name = o.customer.name",
    ),
    (
        "root.customer.email = this.customer.email.lowercase()",
        ".customer.email = downcase!(o.customer.email)",
    ),
    (
        "root.customer.tier = this.customer.tier",
        ".customer.tier = o.customer.tier",
    ),
    (
        "root.customer.vip = this.customer.tier == \"gold\"",
        ".customer.vip = o.customer.tier == \"gold\"",
    ),
    (
        "root.customer.phone = this.customer.phone",
        ".customer.phone = o.customer.phone",
    ),
    (
        "root.customer.city = this.customer.address.city",
        ".customer.city = o.customer.address.city",
    ),
    (
        "root.customer.country = this.customer.address.country.uppercase()",
        ".customer.country = upcase!(o.customer.address.country)",
    ),
    (
        "root.customer.zip = this.customer.address.zip",
        ".customer.zip = o.customer.address.zip",
    ),
    (
        "root.customer.street = this.customer.address.street",
        ".customer.street = o.customer.address.street",
    ),
    (
        "root.payment.method = this.payment.method",
        ".payment.method = o.payment.method",
    ),
    (
        "root.payment.brand = this.payment.card.brand",
        ".payment.brand = o.payment.card.brand",
    ),
    (
        "root.payment.last4 = this.payment.card.last4",
        ".payment.last4 = o.payment.card.last4",
    ),
    (
        "root.payment.amount = this.payment.amount_cents",
        ".payment.amount = o.payment.amount_cents",
    ),
    (
        "root.payment.currency = this.payment.currency.uppercase()",
        ".payment.currency = upcase!(o.payment.currency)",
    ),
    (
        "root.payment.captured = this.payment.captured",
        ".payment.captured = o.payment.captured",
    ),
    (
        "root.shipping.method = this.shipping.method",
        ".shipping.method = o.shipping.method",
    ),
    (
        "root.shipping.cost = this.shipping.cost_cents",
        ".shipping.cost = o.shipping.cost_cents",
    ),
    (
        "root.shipping.city = this.shipping.address.city",
        ".shipping.city = o.shipping.address.city",
    ),
    (
        "root.shipping.country = this.shipping.address.country",
        ".shipping.country = o.shipping.address.country",
    ),
    (
        "root.shipping.same_city = this.shipping.address.city == this.customer.address.city",
        ".shipping.same_city = o.shipping.address.city == o.customer.address.city",
    ),
    (
        "root.totals.items = this.items.length()",
        ".totals.items = length!(o.items)",
    ),
    (
        "root.totals.subtotal = this.payment.amount_cents - this.shipping.cost_cents",
        ".totals.subtotal = int!(o.payment.amount_cents) - int!(o.shipping.cost_cents)",
    ),
    (
        "root.totals.grand = this.payment.amount_cents",
        ".totals.grand = o.payment.amount_cents",
    ),
    (
        "root.totals.first_sku = this.items.0.sku",
        ".totals.first_sku = o.items[0].sku",
    ),
    (
        "root.totals.last_sku = this.items.4.sku",
        ".totals.last_sku = o.items[4].sku",
    ),
    ("root.tags = this.tags", ".tags = o.tags"),
    (
        "root.tag_count = this.tags.length()",
        ".tag_count = length!(o.tags)",
    ),
    ("root.source = this.meta.source", ".source = o.meta.source"),
    (
        "root.app_version = this.meta.version",
        ".app_version = o.meta.version",
    ),
    (
        "root.trace = this.meta.trace_id",
        ".trace = o.meta.trace_id",
    ),
    ("root.client_ip = this.meta.ip", ".client_ip = o.meta.ip"),
    (
        "root.user_agent = this.meta.user_agent",
        ".user_agent = o.meta.user_agent",
    ),
    ("root.note = this.notes", ".note = o.notes"),
    (
        "root.has_note = this.notes != \"\"",
        ".has_note = o.notes != \"\"",
    ),
    (
        "root.priority = if this.shipping.method == \"express\" { \"high\" } else { \"normal\" }",
        ".priority = if o.shipping.method == \"express\" { \"high\" } else { \"normal\" }",
    ),
    (
        "root.label = this.order_id + \"/\" + this.customer.address.country",
        ".label = string!(o.order_id) + \"/\" + string!(o.customer.address.country)",
    ),
    (
        "root.region = this.customer.address.country.uppercase() + \"-\" + this.customer.address.zip",
        ".region = upcase!(o.customer.address.country) + \"-\" + string!(o.customer.address.zip)",
    ),
    (
        "root.warehouse = this.fulfilment.warehouse",
        ".warehouse = o.fulfilment.warehouse",
    ),
    (
        "root.fulfilment.carrier = this.fulfilment.carrier",
        ".fulfilment.carrier = o.fulfilment.carrier",
    ),
    (
        "root.fulfilment.eta_days = this.fulfilment.eta_days + 1",
        ".fulfilment.eta_days = int!(o.fulfilment.eta_days) + 1",
    ),
    (
        "root.loyalty.points = this.customer.points * 2",
        ".loyalty.points = int!(o.customer.points) * 2",
    ),
    (
        "root.loyalty.member_since = this.customer.member_since",
        ".loyalty.member_since = o.customer.member_since",
    ),
    ("root.gift = this.gift", ".gift = o.gift"),
    (
        "root.gift_message = this.gift_message",
        ".gift_message = o.gift_message",
    ),
    ("root.version = 2", ".version = 2"),
];

/// The objects the reshaping statements write into (for VRL's type checker).
const NESTED: &str = r#"{"customer": {}, "fulfilment": {}, "loyalty": {}, "payment": {}, "shipping": {}, "totals": {}}"#;

/// A ~2 KB order event (sorted keys, compact), varied by `i`.
fn order(i: usize, r: &mut Lcg) -> Vec<u8> {
    let cities = ["London", "Leeds", "Bristol", "York"];
    let items: Vec<String> = (0..5)
        .map(|k| {
            format!(
                r#"{{"category":"cat-{}","name":"Item number {k} of order {i}","price_cents":{},"qty":{},"sku":"SKU-{i:05}-{k}"}}"#,
                r.next(9),
                r.next(5000) + 99,
                r.next(4) + 1
            )
        })
        .collect();
    let (home, ship) = (cities[r.next(4) as usize], cities[r.next(4) as usize]);
    format!(
        concat!(
            r#"{{"channel":"web","created_at":"2024-05-01T12:34:{s:02}Z","#,
            r#""customer":{{"address":{{"city":"{home}","country":"gb","street":"{n} Long Road","zip":"N1 {n}GU"}},"#,
            r#""email":"Customer.{i}@Example.COM","id":{id},"member_since":"2019-03-0{d}","name":"Ada Lovelace {i}","#,
            r#""phone":"+44 20 7946 {n:04}","points":{pts},"tier":"{tier}"}},"#,
            r#""fulfilment":{{"carrier":"royal-mail","eta_days":{eta},"warehouse":"wh-{w}"}},"#,
            r#""gift":{gift},"gift_message":"Happy birthday, with love from everyone at number {n}","#,
            r#""items":[{items}],"#,
            r#""meta":{{"ip":"203.0.113.{ip}","source":"mobile-app","trace_id":"4bf92f3577b34da6a3ce929d0e0e{n:04}","#,
            r#""user_agent":"Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1","version":"3.2.{d}"}},"#,
            r#""notes":"{notes}","order_id":"ord-{i:06}","#,
            r#""payment":{{"amount_cents":{amt},"captured":true,"card":{{"brand":"visa","last4":"{n:04}"}},"currency":"gbp","method":"card"}},"#,
            r#""shipping":{{"address":{{"city":"{ship}","country":"gb","street":"{n} Station Street","zip":"LS{d} 4AB"}},"cost_cents":{cost},"method":"{sm}"}},"#,
            r#""status":"paid","tags":["gift","priority","promo","summer-sale","returning-customer"]}}"#
        ),
        s = r.next(60),
        home = home,
        ship = ship,
        n = r.next(9000) + 1000,
        i = i,
        id = 90_000 + i,
        d = r.next(9) + 1,
        pts = r.next(10_000),
        tier = ["gold", "silver", "bronze"][r.next(3) as usize],
        eta = r.next(7) + 1,
        w = r.next(20),
        gift = r.next(2) == 0,
        items = items.join(","),
        ip = r.next(250) + 1,
        notes = if i.is_multiple_of(3) { "" } else { "Please leave the parcel with the neighbour at number 12 if nobody answers the door; the side gate is unlocked during the day." },
        amt = r.next(50_000) + 1000,
        cost = r.next(900) + 99,
        sm = ["express", "standard"][r.next(2) as usize],
    )
    .into_bytes()
}

fn reshape() -> Workload {
    let mut r = Lcg(7);
    let bloblang: Vec<&str> = RESHAPE.iter().map(|(b, _)| *b).collect();
    let vrl: Vec<&str> = RESHAPE.iter().map(|(_, v)| *v).collect();
    Workload {
        name: "reshape 50 stmts, 2 KB",
        bloblang: bloblang.join("\n") + "\n",
        // VRL's type checker refuses `.a.b = x` unless `.a` may be an object,
        // so the reset names the nested objects the statements fill in.
        vrl: format!("o = del(.)\n. = {NESTED}\n{}\n", vrl.join("\n")),
        docs: (0..32).map(|i| order(i, &mut r)).collect(),
        random_fields: &[],
    }
}

/// `{"items":[…1,000 line items…]}`; about a fifth have a zero quantity.
fn line_items(seed: u64) -> Vec<u8> {
    let mut r = Lcg(seed);
    let items: Vec<String> = (0..1000)
        .map(|i| {
            format!(
                r#"{{"id":{i},"price":{},"qty":{},"sku":"sku-{i:04}"}}"#,
                r.next(5000) + 1,
                r.next(5)
            )
        })
        .collect();
    format!(r#"{{"items":[{}]}}"#, items.join(",")).into_bytes()
}

fn map_filter() -> Workload {
    Workload {
        name: "filter+map_each, 1,000 items",
        bloblang: "root.items = this.items.filter(i -> i.qty > 0).map_each(i -> {\"id\": i.id, \"total\": i.price * i.qty})\n".into(),
        vrl: ".items = map_values(filter(array!(.items)) -> |_i, v| { int!(v.qty) > 0 }) -> |v| { {\"id\": v.id, \"total\": int!(v.price) * int!(v.qty)} }\n".into(),
        docs: (0..4).map(line_items).collect(),
        random_fields: &[],
    }
}
