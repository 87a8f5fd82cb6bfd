use super::*;
use crate::scene::{Rng, Scene};

const W: usize = 320;
const H: usize = 240;

/// A textured floor plus fresh Gaussian-ish noise of sigma ~8 per call.
struct Bench {
    floor: Vec<u8>,
    rng: Rng,
}

impl Bench {
    fn new(seed: u64) -> Self {
        let mut rng = Rng::new(seed);
        let floor = (0..W * H)
            .map(|i| {
                let (x, y) = ((i % W) as f32, (i / W) as f32);
                (120.0 + 25.0 * (x * 0.05).sin() * (y * 0.03).cos() + rng.range(-6.0, 6.0)) as u8
            })
            .collect();
        Self { floor, rng }
    }

    /// Floor + filled rectangles (x0, y0, x1, y1 inclusive, value) + noise.
    fn frame(&mut self, rects: &[(usize, usize, usize, usize, u8)]) -> Vec<u8> {
        let mut f = self.floor.clone();
        for &(x0, y0, x1, y1, v) in rects {
            for y in y0..=y1 {
                for x in x0..=x1 {
                    f[y * W + x] = v;
                }
            }
        }
        for p in f.iter_mut() {
            let n: f32 = (0..4).map(|_| self.rng.range(-1.0, 1.0)).sum::<f32>() * 8.0 / 1.155;
            *p = (f32::from(*p) + n).clamp(0.0, 255.0) as u8;
        }
        f
    }
}

fn close(d: &Detection, r: (usize, usize, usize, usize)) -> bool {
    let near = |a: u32, b: usize| (a as i64 - b as i64).abs() <= 2;
    near(d.x_min, r.0) && near(d.y_min, r.1) && near(d.x_max, r.2) && near(d.y_max, r.3)
}

#[test]
fn two_rectangles_give_two_labelled_boxes() {
    let mut bench = Bench::new(1);
    let mut det = Detector::new(W, H);
    for _ in 0..10 {
        assert!(det.process(&bench.frame(&[])).is_empty());
    }
    // Move both across a few frames; every frame must show exactly these two.
    for step in 0..8 {
        let person = (40 + step * 2, 50 + step, 40 + step * 2 + 11, 50 + step + 31);
        let vehicle = (150 + step * 3, 120, 150 + step * 3 + 55, 120 + 25);
        let frame = bench.frame(&[
            (person.0, person.1, person.2, person.3, 20),
            (vehicle.0, vehicle.1, vehicle.2, vehicle.3, 230),
        ]);
        let found = det.process(&frame);
        assert_eq!(found.len(), 2, "step {step}: {found:?}");
        let p = found.iter().find(|d| close(d, person)).expect("person box");
        let v = found
            .iter()
            .find(|d| close(d, vehicle))
            .expect("vehicle box");
        assert_eq!(p.label, "person");
        assert_eq!(v.label, "vehicle");
        assert!(p.confidence > 0.5 && p.confidence <= 1.0, "{p:?}");
        assert!(v.confidence > 0.5 && v.confidence <= 1.0, "{v:?}");
    }
}

#[test]
fn noise_alone_detects_nothing() {
    let mut bench = Bench::new(2);
    let mut det = Detector::new(W, H);
    for i in 0..150 {
        let found = det.process(&bench.frame(&[]));
        assert!(found.is_empty(), "frame {i}: {found:?}");
    }
}

#[test]
fn rectangles_touching_at_a_corner_are_one_object() {
    let mut bench = Bench::new(3);
    let mut det = Detector::new(W, H);
    for _ in 0..5 {
        det.process(&bench.frame(&[]));
    }
    let found = det.process(&bench.frame(&[(100, 100, 119, 119, 15), (120, 120, 139, 139, 15)]));
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(close(&found[0], (100, 100, 139, 139)), "{found:?}");
}

#[test]
fn ghost_of_the_seed_frame_is_absorbed() {
    let mut bench = Bench::new(4);
    let mut det = Detector::new(W, H);
    // The model is seeded while a box stands at (20, 20); then the box is gone for good.
    det.process(&bench.frame(&[(20, 20, 39, 39, 230)]));
    let mut last = Vec::new();
    for _ in 0..30 {
        last = det.process(&bench.frame(&[]));
    }
    assert!(last.is_empty(), "{last:?}");
}

#[test]
fn wrong_frame_size_is_ignored() {
    let mut det = Detector::new(W, H);
    assert!(det.process(&[0u8; 10]).is_empty());
    assert!(Detector::new(0, 0).process(&[]).is_empty());
}

/// The whole chain on the simulated camera, as the camera thread runs it: after the
/// background is learned, every frame has detections and every object that does not overlap another is found within 2 px with its true label.
#[test]
fn finds_the_simulated_objects() {
    for id in ["cam-01", "cam-02", "cam-05", "cam-23"] {
        let mut scene = Scene::new(id, W, H);
        let mut det = Detector::new(W, H);
        let mut frame = Vec::new();
        crate::camera::learn_background(&mut scene, &mut det, &mut frame);
        let (mut checked, mut labelled_right) = (0, 0);
        for i in 0..300 {
            scene.render(&mut frame);
            let found = det.process(&frame);
            let truth: Vec<_> = scene
                .movers()
                .iter()
                .map(|m| (m.kind, m.bounds()))
                .collect();
            scene.step();
            assert!(!found.is_empty(), "{id} frame {i}: nothing found");
            for (k, (kind, b)) in truth.iter().enumerate() {
                let apart = truth.iter().enumerate().all(|(j, (_, o))| {
                    j == k || b.2 + 3 < o.0 || o.2 + 3 < b.0 || b.3 + 3 < o.1 || o.3 + 3 < b.1
                });
                if !apart {
                    continue;
                }
                let d = found.iter().find(|d| close(d, *b));
                let d = d.unwrap_or_else(|| panic!("{id} frame {i}: {kind:?} {b:?} in {found:?}"));
                checked += 1;
                if d.label == kind.label() {
                    labelled_right += 1;
                }
            }
        }
        assert!(checked > 300, "{id}: only {checked} checks");
        // Ellipse edges and noise make a few borderline calls; the vast majority must be right.
        assert!(
            labelled_right * 100 >= checked * 95,
            "{id}: {labelled_right}/{checked}"
        );
    }
}
