//! A simulated camera: a deterministic grayscale scene seeded by the camera id.
//!
//! The scene is what a fixed factory camera would see: a static textured floor, a few objects
//! of different shapes crossing it and bouncing off the frame edges, and fresh sensor noise in
//! every frame. Nothing here knows about detection; the detector only ever sees the pixels.

/// Sizes below are nominal for a frame whose shorter side is this many pixels; other frame
/// sizes scale them so the scene looks the same at any resolution.
pub const NOMINAL_SIDE: f32 = 240.0;

/// How much the object sizes are scaled for a `width` x `height` frame.
pub fn scale_for(width: usize, height: usize) -> f32 {
    width.min(height) as f32 / NOMINAL_SIDE
}

/// Small, fast, seedable PRNG (SplitMix64). Own code so the scene is reproducible bit for bit
/// without depending on a crate's stream staying stable across versions.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[lo, hi)`.
    pub fn range(&mut self, lo: f32, hi: f32) -> f32 {
        let unit = (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32;
        lo + (hi - lo) * unit
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
}

/// FNV-1a: turns a camera id into a seed, so `cam-03` always shows the same scene.
pub fn seed_from_id(id: &str) -> u64 {
    id.bytes().fold(0xCBF2_9CE4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01B3)
    })
}

/// What kind of thing an object is; decides its shape and nominal size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Tall rectangle.
    Person,
    /// Wide, large rectangle.
    Vehicle,
    /// Small square.
    Box,
    /// Medium disc (an ellipse with equal axes, give or take).
    Ball,
}

impl Kind {
    const ALL: [Kind; 4] = [Kind::Person, Kind::Vehicle, Kind::Box, Kind::Ball];

    pub fn label(self) -> &'static str {
        match self {
            Kind::Person => "person",
            Kind::Vehicle => "vehicle",
            Kind::Box => "box",
            Kind::Ball => "ball",
        }
    }

    /// Nominal (width, height) in pixels at [`NOMINAL_SIDE`].
    fn nominal_size(self) -> (f32, f32) {
        match self {
            Kind::Person => (12.0, 32.0),
            Kind::Vehicle => (56.0, 26.0),
            Kind::Box => (16.0, 16.0),
            Kind::Ball => (24.0, 24.0),
        }
    }

    fn is_ellipse(self) -> bool {
        self == Kind::Ball
    }
}

/// One moving object. Position is the top-left corner, kept in floats so slow objects still
/// move smoothly over many frames.
#[derive(Debug, Clone)]
pub struct Mover {
    pub kind: Kind,
    x: f32,
    y: f32,
    w: usize,
    h: usize,
    vx: f32,
    vy: f32,
    intensity: u8,
}

impl Mover {
    /// The pixels this object covers now, as inclusive (x_min, y_min, x_max, y_max).
    pub fn bounds(&self) -> (usize, usize, usize, usize) {
        let x0 = self.x.round() as usize;
        let y0 = self.y.round() as usize;
        (x0, y0, x0 + self.w - 1, y0 + self.h - 1)
    }
}

/// A camera's world: background, objects, noise source and frame counter.
pub struct Scene {
    width: usize,
    height: usize,
    background: Vec<u8>,
    movers: Vec<Mover>,
    noise: Rng,
}

/// Standard deviation of the sensor noise, in grey levels.
pub const NOISE_SIGMA: f32 = 8.0;

impl Scene {
    /// Builds the scene for `camera_id`. `width` and `height` must be at least 64 (the CLI
    /// enforces it); smaller values are raised to 64 rather than panicking.
    pub fn new(camera_id: &str, width: usize, height: usize) -> Self {
        let width = width.max(64);
        let height = height.max(64);
        let mut rng = Rng::new(seed_from_id(camera_id));
        let background = render_background(&mut rng, width, height);
        let scale = scale_for(width, height);
        let count = 2 + rng.below(4) as usize; // 2..=5 objects
        let movers = (0..count)
            .map(|i| {
                // The first two objects are a person and a vehicle so every camera shows both
                // extremes of shape; the rest are drawn at random.
                let kind = match i {
                    0 => Kind::Person,
                    1 => Kind::Vehicle,
                    _ => Kind::ALL[rng.below(4) as usize],
                };
                new_mover(&mut rng, kind, scale, width, height)
            })
            .collect();
        let noise = Rng::new(rng.next_u64());
        Self {
            width,
            height,
            background,
            movers,
            noise,
        }
    }

    pub fn width(&self) -> usize {
        self.width
    }

    pub fn height(&self) -> usize {
        self.height
    }

    /// The objects as they are now (ground truth, for tests and logs).
    pub fn movers(&self) -> &[Mover] {
        &self.movers
    }

    /// Writes the current frame into `out` (resized to width * height).
    pub fn render(&mut self, out: &mut Vec<u8>) {
        out.clear();
        out.extend_from_slice(&self.background);
        for m in &self.movers {
            draw(out, self.width, m);
        }
        add_noise(out, &mut self.noise);
    }

    /// Advances every object by one frame, bouncing off the frame edges.
    pub fn step(&mut self) {
        let (fw, fh) = (self.width as f32, self.height as f32);
        for m in &mut self.movers {
            (m.x, m.vx) = bounce(m.x + m.vx, m.vx, fw - m.w as f32);
            (m.y, m.vy) = bounce(m.y + m.vy, m.vy, fh - m.h as f32);
        }
    }
}

/// Reflects a coordinate that left `[0, max]` back inside and flips the velocity.
fn bounce(pos: f32, v: f32, max: f32) -> (f32, f32) {
    if pos < 0.0 {
        ((-pos).min(max), -v)
    } else if pos > max {
        ((2.0 * max - pos).max(0.0), -v)
    } else {
        (pos, v)
    }
}

fn new_mover(rng: &mut Rng, kind: Kind, scale: f32, width: usize, height: usize) -> Mover {
    let (nw, nh) = kind.nominal_size();
    // +-12 % size jitter so no two objects are identical and the classifier has to judge.
    let jitter = rng.range(0.88, 1.12);
    let w = ((nw * scale * jitter).round() as usize).clamp(3, width - 2);
    let h = ((nh * scale * jitter).round() as usize).clamp(3, height - 2);
    let speed = rng.range(0.6, 2.4) * scale.max(0.5);
    let angle = rng.range(0.0, std::f32::consts::TAU);
    // Clearly darker or brighter than the background (which sits in 80..=160): at least 50
    // grey levels apart, about six noise sigmas.
    let intensity = if rng.below(2) == 0 {
        rng.range(5.0, 25.0) as u8
    } else {
        rng.range(215.0, 245.0) as u8
    };
    Mover {
        kind,
        x: rng.range(0.0, (width - w) as f32),
        y: rng.range(0.0, (height - h) as f32),
        w,
        h,
        vx: speed * angle.cos(),
        vy: speed * angle.sin(),
        intensity,
    }
}

/// Static floor texture: broad shading, blotches (bilinear value noise) and fine grain.
fn render_background(rng: &mut Rng, width: usize, height: usize) -> Vec<u8> {
    let cell = 16usize;
    let (cw, ch) = (width / cell + 2, height / cell + 2);
    let blotches: Vec<f32> = (0..cw * ch).map(|_| rng.range(-18.0, 18.0)).collect();
    let (fx, fy) = (rng.range(0.01, 0.04), rng.range(0.01, 0.04));
    let (px, py) = (rng.range(0.0, 6.3), rng.range(0.0, 6.3));
    let mut grain = Rng::new(rng.next_u64());
    let mut bg = Vec::with_capacity(width * height);
    for y in 0..height {
        for x in 0..width {
            let shade = 20.0 * (x as f32 * fx + px).sin() * (y as f32 * fy + py).cos();
            let (gx, gy) = (x as f32 / cell as f32, y as f32 / cell as f32);
            let (ix, iy) = (gx as usize, gy as usize);
            let (tx, ty) = (gx - ix as f32, gy - iy as f32);
            let at = |cx: usize, cy: usize| blotches[cy * cw + cx];
            let top = at(ix, iy) * (1.0 - tx) + at(ix + 1, iy) * tx;
            let bottom = at(ix, iy + 1) * (1.0 - tx) + at(ix + 1, iy + 1) * tx;
            let blotch = top * (1.0 - ty) + bottom * ty;
            let fine = grain.range(-6.0, 6.0);
            bg.push((120.0 + shade + blotch + fine).clamp(80.0, 160.0) as u8);
        }
    }
    bg
}

/// Paints one object with a faint surface pattern (so it is not a perfectly flat blob).
fn draw(frame: &mut [u8], width: usize, m: &Mover) {
    let (x0, y0, x1, y1) = m.bounds();
    let (cx, cy) = ((x0 + x1) as f32 / 2.0, (y0 + y1) as f32 / 2.0);
    let (rx, ry) = (m.w as f32 / 2.0, m.h as f32 / 2.0);
    for y in y0..=y1 {
        let row = y * width;
        for x in x0..=x1 {
            if m.kind.is_ellipse() {
                let (dx, dy) = ((x as f32 - cx) / rx, (y as f32 - cy) / ry);
                if dx * dx + dy * dy > 1.0 {
                    continue;
                }
            }
            let stripe = if ((x - x0) / 3 + (y - y0) / 3) % 2 == 0 {
                5
            } else {
                0
            };
            if let Some(p) = frame.get_mut(row + x) {
                *p = m.intensity.saturating_add(stripe);
            }
        }
    }
}

/// Adds roughly Gaussian noise (sum of four uniform bytes, Irwin-Hall) of [`NOISE_SIGMA`].
fn add_noise(frame: &mut [u8], rng: &mut Rng) {
    // Sum of 4 uniform bytes has std 147.8; scale it to NOISE_SIGMA in 1/1024 fixed point.
    let k = (NOISE_SIGMA / 147.8 * 1024.0) as i32;
    for p in frame.iter_mut() {
        let r = rng.next_u64();
        let s = (r & 0xFF) + ((r >> 8) & 0xFF) + ((r >> 16) & 0xFF) + ((r >> 24) & 0xFF);
        let n = ((s as i32 - 510) * k) >> 10;
        *p = (i32::from(*p) + n).clamp(0, 255) as u8;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_id_same_scene_different_id_different_scene() {
        let mut a = Scene::new("cam-01", 320, 240);
        let mut b = Scene::new("cam-01", 320, 240);
        let mut c = Scene::new("cam-02", 320, 240);
        let (mut fa, mut fb, mut fc) = (Vec::new(), Vec::new(), Vec::new());
        a.render(&mut fa);
        b.render(&mut fb);
        c.render(&mut fc);
        assert_eq!(fa, fb);
        assert_ne!(fa, fc);
        assert!((2..=5).contains(&a.movers().len()));
    }

    #[test]
    fn objects_stay_inside_the_frame() {
        let mut s = Scene::new("cam-07", 200, 100);
        for _ in 0..2000 {
            s.step();
            for m in s.movers() {
                let (_, _, x1, y1) = m.bounds();
                assert!(x1 < s.width() && y1 < s.height(), "{m:?}");
            }
        }
    }
}
