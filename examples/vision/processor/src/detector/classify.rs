//! Labels a blob from its shape alone: aspect ratio, area and fill ratio, compared with a
//! prototype per class. The confidence is how well the blob agrees with the winning prototype.

/// What the detector knows about each class it can name. Areas are in pixels at a frame whose
/// shorter side is [`crate::scene::NOMINAL_SIDE`]; they are scaled like the scene is.
struct Prototype {
    label: &'static str,
    /// width / height
    aspect: f32,
    area: f32,
    /// pixels / bounding-box area: 1 for a rectangle, pi/4 for an ellipse
    fill: f32,
}

const PROTOTYPES: [Prototype; 4] = [
    Prototype {
        label: "person",
        aspect: 12.0 / 32.0,
        area: 12.0 * 32.0,
        fill: 1.0,
    },
    Prototype {
        label: "vehicle",
        aspect: 56.0 / 26.0,
        area: 56.0 * 26.0,
        fill: 1.0,
    },
    Prototype {
        label: "box",
        aspect: 1.0,
        area: 16.0 * 16.0,
        fill: 1.0,
    },
    Prototype {
        label: "ball",
        aspect: 1.0,
        area: std::f32::consts::FRAC_PI_4 * 24.0 * 24.0,
        fill: std::f32::consts::FRAC_PI_4,
    },
];

/// Below this agreement the blob is reported as a plain "object" (e.g. two objects merged).
const MIN_AGREEMENT: f32 = 0.15;

/// Tolerances: log-ratio spread for aspect and area, absolute spread for fill.
const ASPECT_SPREAD: f32 = 0.25;
const AREA_SPREAD: f32 = 0.35;
const FILL_SPREAD: f32 = 0.08;

/// Returns (label, confidence in 0..=1) for a blob of `area` pixels in a `w` x `h` box, with
/// object sizes scaled by `scale` (see [`crate::scene::scale_for`]).
pub fn classify(w: usize, h: usize, area: usize, scale: f32) -> (&'static str, f32) {
    if w == 0 || h == 0 || area == 0 || !scale.is_finite() || scale <= 0.0 {
        return ("object", 0.0);
    }
    let aspect = w as f32 / h as f32;
    let fill = (area as f32 / (w * h) as f32).min(1.0);
    let norm_area = area as f32 / (scale * scale);
    let gauss = |d: f32, spread: f32| (-(d * d) / (2.0 * spread * spread)).exp();
    let (best, score) = PROTOTYPES
        .iter()
        .map(|p| {
            let s = gauss((aspect / p.aspect).ln(), ASPECT_SPREAD)
                * gauss((norm_area / p.area).ln(), AREA_SPREAD)
                * gauss(fill - p.fill, FILL_SPREAD);
            (p.label, s)
        })
        .fold(
            ("object", 0.0f32),
            |acc, x| if x.1 > acc.1 { x } else { acc },
        );
    let confidence = score.clamp(0.0, 1.0);
    if confidence < MIN_AGREEMENT {
        // Still a real moving thing; say so, with the fill ratio as a weak confidence.
        ("object", (fill * 0.5).clamp(0.0, MIN_AGREEMENT))
    } else {
        (best, confidence)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ellipse_area(w: f32, h: f32) -> usize {
        (std::f32::consts::FRAC_PI_4 * w * h) as usize
    }

    #[test]
    fn nominal_shapes_get_their_labels() {
        assert_eq!(classify(12, 32, 384, 1.0).0, "person");
        assert_eq!(classify(56, 26, 56 * 26, 1.0).0, "vehicle");
        assert_eq!(classify(16, 16, 256, 1.0).0, "box");
        assert_eq!(classify(24, 24, ellipse_area(24.0, 24.0), 1.0).0, "ball");
        // Jittered sizes and a scaled frame still classify.
        assert_eq!(classify(14, 36, 14 * 36, 1.0).0, "person");
        assert_eq!(classify(75, 35, 75 * 35, 4.0 / 3.0).0, "vehicle");
        let (label, conf) = classify(12, 32, 384, 1.0);
        assert_eq!(label, "person");
        assert!(conf > 0.9, "{conf}");
    }

    #[test]
    fn merged_or_odd_blobs_are_plain_objects() {
        // A long thin bar is nothing the detector knows.
        let (label, conf) = classify(120, 4, 480, 1.0);
        assert_eq!(label, "object");
        assert!((0.0..=1.0).contains(&conf));
        assert_eq!(classify(0, 5, 0, 1.0), ("object", 0.0));
        assert_eq!(classify(5, 5, 5, f32::NAN).0, "object");
    }
}
