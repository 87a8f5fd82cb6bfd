//! Moving-object detection on grayscale frames, written from scratch:
//!
//! 1. running-average background model (per pixel, updated only where nothing moves),
//! 2. absolute difference against it, thresholded into a foreground mask,
//! 3. morphological opening (drops speckle noise) then closing (fills pinholes), 3x3,
//! 4. connected components with 8-connectivity, small ones dropped,
//! 5. static blobs (no pixel changed for a while) are absorbed into the background instead of
//!    reported: that is how the "ghost" an object leaves where it stood when the model was
//!    seeded goes away once the object has moved clear of it,
//! 6. each remaining blob is labelled from its shape (see [`classify`]).

pub mod classify;
pub mod components;

use components::{Component, Labeller};

/// One detected object. Coordinates are inclusive pixel indices inside the frame.
#[derive(Debug, Clone, PartialEq)]
pub struct Detection {
    pub label: &'static str,
    pub confidence: f32,
    pub x_min: u32,
    pub y_min: u32,
    pub x_max: u32,
    pub y_max: u32,
    /// Foreground pixels in the blob.
    pub area: u32,
}

/// Tuning knobs. The defaults fit the simulated cameras (noise sigma 8, objects at least 50
/// grey levels away from the floor).
#[derive(Debug, Clone)]
pub struct Params {
    /// |frame - background| above this is foreground (about 3.7 noise sigmas).
    pub threshold: u8,
    /// Background learning rate for pixels that are not part of a moving object.
    pub alpha: f32,
    /// Blobs smaller than this (at a 240-pixel frame; scaled by area) are noise.
    pub min_area_nominal: f32,
    /// |frame - previous frame| above this counts as motion at that pixel.
    pub motion_threshold: u8,
    /// A blob with no motion for this many frames is static and goes into the background.
    pub static_frames: u32,
    /// Motion pixels a blob needs (as a fraction of its area) to count as moving.
    pub moving_fraction: f32,
}

impl Default for Params {
    fn default() -> Self {
        Self {
            threshold: 30,
            alpha: 0.05,
            min_area_nominal: 40.0,
            motion_threshold: 40,
            static_frames: 10,
            moving_fraction: 0.03,
        }
    }
}

/// Detection state for one camera. Feed it every frame in order.
pub struct Detector {
    width: usize,
    height: usize,
    scale: f32,
    params: Params,
    min_area: usize,
    /// The running average; empty until the first frame seeds it.
    background: Vec<f32>,
    previous: Vec<u8>,
    /// Frame number of the last motion seen at each pixel; `NEVER` if none yet.
    last_motion: Vec<u32>,
    frame_no: u32,
    raw: Vec<u8>,
    mask: Vec<u8>,
    scratch: Vec<u8>,
    scratch2: Vec<u8>,
    labeller: Labeller,
    /// Per label of the last frame: is it a moving object (so the background must not learn it)?
    moving: Vec<bool>,
}

const NEVER: u32 = u32::MAX;

impl Detector {
    pub fn new(width: usize, height: usize) -> Self {
        Self::with_params(width, height, Params::default())
    }

    pub fn with_params(width: usize, height: usize, params: Params) -> Self {
        let scale = crate::scene::scale_for(width, height);
        let min_area = (params.min_area_nominal * scale * scale).round().max(4.0) as usize;
        Self {
            width,
            height,
            scale,
            params,
            min_area,
            background: Vec::new(),
            previous: Vec::new(),
            last_motion: Vec::new(),
            frame_no: 0,
            raw: Vec::new(),
            mask: Vec::new(),
            scratch: Vec::new(),
            scratch2: Vec::new(),
            labeller: Labeller::default(),
            moving: Vec::new(),
        }
    }

    /// Seeds the background model with the per-pixel median of `samples` (frames of this
    /// detector's size, ideally spread over several seconds). An object that keeps moving
    /// covers any pixel for well under half of such a window, so unlike seeding from a single
    /// frame this leaves no ghosts. Returns false (and changes nothing) if no sample fits.
    pub fn seed_with_median(&mut self, samples: &[Vec<u8>]) -> bool {
        let n = self.width * self.height;
        let usable: Vec<&[u8]> = samples
            .iter()
            .map(Vec::as_slice)
            .filter(|s| n > 0 && s.len() == n)
            .collect();
        let Some(last) = usable.last() else {
            return false;
        };
        let mut column = vec![0u8; usable.len()];
        let mid = usable.len() / 2;
        self.background = (0..n)
            .map(|i| {
                for (c, s) in column.iter_mut().zip(&usable) {
                    *c = s[i];
                }
                f32::from(*column.select_nth_unstable(mid).1)
            })
            .collect();
        self.previous = last.to_vec();
        self.last_motion = vec![NEVER; n];
        self.frame_no = 1;
        true
    }

    /// Processes the next frame (row-major, one byte per pixel) and returns what moves in it.
    /// A frame of the wrong size yields no detections and leaves the model untouched.
    pub fn process(&mut self, frame: &[u8]) -> Vec<Detection> {
        let n = self.width * self.height;
        if n == 0 || frame.len() != n {
            return Vec::new();
        }
        if self.background.is_empty() {
            // Without `seed_with_median` the first frame seeds the model; objects in it leave
            // ghosts that step 5 removes once they have moved clear.
            self.background = frame.iter().map(|&p| f32::from(p)).collect();
            self.previous = frame.to_vec();
            self.last_motion = vec![NEVER; n];
            self.frame_no = 1;
            return Vec::new();
        }
        self.frame_no = self.frame_no.wrapping_add(1);
        if self.frame_no == NEVER {
            self.frame_no = 0; // never collide with the sentinel
        }

        self.difference(frame);
        // Opening (erode, dilate) then closing (dilate, erode); `scratch` is the row buffer.
        let (w, h) = (self.width, self.height);
        morph(
            &self.raw,
            &mut self.scratch,
            &mut self.scratch2,
            w,
            h,
            false,
        );
        morph(
            &self.scratch2,
            &mut self.scratch,
            &mut self.mask,
            w,
            h,
            true,
        );
        morph(
            &self.mask,
            &mut self.scratch,
            &mut self.scratch2,
            w,
            h,
            true,
        );
        morph(
            &self.scratch2,
            &mut self.scratch,
            &mut self.mask,
            w,
            h,
            false,
        );

        let components = self
            .labeller
            .label(&self.mask, self.width, self.height, self.min_area);
        self.moving.clear();
        self.moving.resize(self.labeller.label_count() + 1, false);
        let mut detections = Vec::with_capacity(components.len());
        for c in &components {
            if self.is_moving(c) {
                self.moving[c.label as usize] = true;
                detections.push(self.describe(c));
            } else {
                self.absorb(c, frame);
            }
        }
        self.learn(frame);
        self.previous.copy_from_slice(frame);
        detections
    }

    /// Fills `raw` with the thresholded background difference and records motion per pixel.
    fn difference(&mut self, frame: &[u8]) {
        let t = f32::from(self.params.threshold);
        let mt = self.params.motion_threshold;
        self.raw.clear();
        self.raw.extend(
            frame
                .iter()
                .zip(&self.background)
                .map(|(&p, &b)| u8::from((f32::from(p) - b).abs() > t)),
        );
        for ((lm, &p), &q) in self.last_motion.iter_mut().zip(frame).zip(&self.previous) {
            if p.abs_diff(q) > mt {
                *lm = self.frame_no;
            }
        }
    }

    /// Did enough of this blob's pixels change within the last `static_frames` frames?
    fn is_moving(&self, c: &Component) -> bool {
        let mut recent = 0usize;
        for y in c.y_min..=c.y_max {
            let row = y * self.width;
            for i in row + c.x_min..=row + c.x_max {
                if self.labeller.labels[i] != c.label {
                    continue;
                }
                let lm = self.last_motion[i];
                if lm != NEVER && self.frame_no.wrapping_sub(lm) <= self.params.static_frames {
                    recent += 1;
                }
            }
        }
        let needed = ((c.area as f32 * self.params.moving_fraction).ceil() as usize).max(4);
        recent >= needed
    }

    /// A static blob is scenery (or a ghost): copy it into the background outright.
    fn absorb(&mut self, c: &Component, frame: &[u8]) {
        for y in c.y_min..=c.y_max {
            let span = y * self.width + c.x_min..=y * self.width + c.x_max;
            let labels = &self.labeller.labels[span.clone()];
            for ((b, &p), &l) in self.background[span.clone()]
                .iter_mut()
                .zip(&frame[span])
                .zip(labels)
            {
                if l == c.label {
                    *b = f32::from(p);
                }
            }
        }
    }

    /// Running average everywhere except under moving objects, so they never fade into it.
    fn learn(&mut self, frame: &[u8]) {
        let a = self.params.alpha;
        for ((b, &p), &l) in self
            .background
            .iter_mut()
            .zip(frame)
            .zip(&self.labeller.labels)
        {
            if !self.moving.get(l as usize).copied().unwrap_or(false) {
                *b += a * (f32::from(p) - *b);
            }
        }
    }

    fn describe(&self, c: &Component) -> Detection {
        let (label, confidence) = classify::classify(c.width(), c.height(), c.area, self.scale);
        Detection {
            label,
            confidence,
            x_min: c.x_min as u32,
            y_min: c.y_min as u32,
            x_max: c.x_max as u32,
            y_max: c.y_max as u32,
            area: c.area as u32,
        }
    }
}

/// 3x3 binary erosion (`dilate == false`) or dilation of a 0/1 mask, separably: a horizontal
/// pass into `tmp`, a vertical pass into `dst`. Out-of-frame neighbours repeat the edge pixel,
/// so objects touching the border are neither eaten nor grown by the frame edge.
fn morph(src: &[u8], tmp: &mut Vec<u8>, dst: &mut Vec<u8>, w: usize, h: usize, dilate: bool) {
    let op = |a: u8, b: u8, c: u8| if dilate { a | b | c } else { a & b & c };
    tmp.clear();
    tmp.resize(w * h, 0);
    dst.clear();
    dst.resize(w * h, 0);
    if src.len() != w * h || w == 0 || h == 0 {
        return;
    }
    for y in 0..h {
        let row = &src[y * w..(y + 1) * w];
        let out = &mut tmp[y * w..(y + 1) * w];
        for x in 0..w {
            let left = row[x.saturating_sub(1)];
            let right = row[(x + 1).min(w - 1)];
            out[x] = op(left, row[x], right);
        }
    }
    for y in 0..h {
        let up = y.saturating_sub(1) * w;
        let down = (y + 1).min(h - 1) * w;
        let here = y * w;
        for x in 0..w {
            dst[here + x] = op(tmp[up + x], tmp[here + x], tmp[down + x]);
        }
    }
}

#[cfg(test)]
mod tests;
