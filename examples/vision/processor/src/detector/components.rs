//! Connected-component labelling of a binary mask: two passes with a union-find over
//! provisional labels, 8-connectivity (pixels touching only at a corner belong together).

/// One connected component: its bounding box (inclusive) and pixel count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Component {
    /// Final label as written into [`Labeller::labels`] (1-based; 0 is background).
    pub label: u32,
    pub x_min: usize,
    pub y_min: usize,
    pub x_max: usize,
    pub y_max: usize,
    pub area: usize,
}

impl Component {
    pub fn width(&self) -> usize {
        self.x_max - self.x_min + 1
    }

    pub fn height(&self) -> usize {
        self.y_max - self.y_min + 1
    }
}

/// Reusable buffers so labelling a frame allocates nothing once warmed up.
#[derive(Debug, Default)]
pub struct Labeller {
    /// Per pixel: 0 for background, else the final label of its component (after `label`).
    /// Components dropped for being too small keep their label here but are not returned.
    pub labels: Vec<u32>,
    parent: Vec<u32>,
    /// Provisional root -> index into the output, during the second pass.
    slot: Vec<u32>,
    /// Components found by the last `label`, before the `min_area` filter.
    count: usize,
}

impl Labeller {
    /// Highest label written into `labels` by the last call to [`Labeller::label`].
    pub fn label_count(&self) -> usize {
        self.count
    }

    fn find(&mut self, mut x: u32) -> u32 {
        // Path halving keeps the trees shallow without recursion.
        while self.parent[x as usize] != x {
            let grand = self.parent[self.parent[x as usize] as usize];
            self.parent[x as usize] = grand;
            x = grand;
        }
        x
    }

    fn union(&mut self, a: u32, b: u32) -> u32 {
        let (ra, rb) = (self.find(a), self.find(b));
        // The smaller label wins, so roots are stable and the result is deterministic.
        let (lo, hi) = if ra < rb { (ra, rb) } else { (rb, ra) };
        self.parent[hi as usize] = lo;
        lo
    }

    /// Labels `mask` (non-zero = foreground, row-major, `width` x `height`) and returns the
    /// components of at least `min_area` pixels, ordered top to bottom, left to right.
    /// A mask shorter than `width * height` is treated as background where it is missing.
    pub fn label(
        &mut self,
        mask: &[u8],
        width: usize,
        height: usize,
        min_area: usize,
    ) -> Vec<Component> {
        let n = width * height;
        self.labels.clear();
        self.labels.resize(n, 0);
        self.parent.clear();
        self.parent.push(0); // label 0 = background
        let fg = |i: usize| mask.get(i).is_some_and(|&v| v != 0);

        // Pass 1: provisional labels from the already-visited neighbours (W, NW, N, NE).
        for y in 0..height {
            for x in 0..width {
                let i = y * width + x;
                if !fg(i) {
                    continue;
                }
                let mut current = 0u32;
                let mut neighbours = [0u32; 4];
                neighbours[0] = if x > 0 { self.labels[i - 1] } else { 0 };
                if y > 0 {
                    let up = i - width;
                    neighbours[1] = if x > 0 { self.labels[up - 1] } else { 0 };
                    neighbours[2] = self.labels[up];
                    neighbours[3] = if x + 1 < width {
                        self.labels[up + 1]
                    } else {
                        0
                    };
                }
                for &l in neighbours.iter().filter(|&&l| l != 0) {
                    current = if current == 0 {
                        l
                    } else {
                        self.union(current, l)
                    };
                }
                if current == 0 {
                    current = self.parent.len() as u32;
                    self.parent.push(current);
                }
                self.labels[i] = current;
            }
        }

        // Pass 2: resolve roots, gather statistics per root, renumber 1..=k.
        self.slot.clear();
        self.slot.resize(self.parent.len(), u32::MAX);
        let mut out: Vec<Component> = Vec::new();
        for y in 0..height {
            for x in 0..width {
                let i = y * width + x;
                let l = self.labels[i];
                if l == 0 {
                    continue;
                }
                let root = self.find(l) as usize;
                let s = self.slot[root];
                let idx = if s == u32::MAX {
                    let idx = out.len();
                    self.slot[root] = idx as u32;
                    out.push(Component {
                        label: idx as u32 + 1,
                        x_min: x,
                        y_min: y,
                        x_max: x,
                        y_max: y,
                        area: 0,
                    });
                    idx
                } else {
                    s as usize
                };
                let c = &mut out[idx];
                c.x_min = c.x_min.min(x);
                c.x_max = c.x_max.max(x);
                c.y_max = y; // rows are visited in order
                c.area += 1;
                self.labels[i] = c.label;
            }
        }
        // Components were created in raster order of their first pixel, which is already
        // top-to-bottom, left-to-right.
        self.count = out.len();
        out.retain(|c| c.area >= min_area);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mask_from(rows: &[&str]) -> (Vec<u8>, usize, usize) {
        let w = rows[0].len();
        let m = rows
            .iter()
            .flat_map(|r| r.bytes().map(|b| u8::from(b == b'#')))
            .collect();
        (m, w, rows.len())
    }

    #[test]
    fn diagonal_touch_is_one_component() {
        let (m, w, h) = mask_from(&[
            "##......", //
            "##......", //
            "..##....", //
            "..##....", //
            "....#...", //
            ".....##.", //
        ]);
        let comps = Labeller::default().label(&m, w, h, 1);
        assert_eq!(comps.len(), 1, "{comps:?}");
        let c = comps[0];
        assert_eq!(
            (c.x_min, c.y_min, c.x_max, c.y_max, c.area),
            (0, 0, 6, 5, 11)
        );
    }

    #[test]
    fn separated_blobs_and_min_area() {
        let (m, w, h) = mask_from(&[
            "###...#.", //
            "###.....", //
            "........", //
            ".....###", //
            "#....###", //
        ]);
        let mut lab = Labeller::default();
        let all = lab.label(&m, w, h, 1);
        assert_eq!(all.len(), 4);
        let big = lab.label(&m, w, h, 2);
        assert_eq!(big.len(), 2);
        assert_eq!((big[0].x_min, big[0].y_min, big[0].area), (0, 0, 6));
        assert_eq!((big[1].x_min, big[1].y_min, big[1].area), (5, 3, 6));
        // Every pixel of a kept component carries that component's label.
        assert_eq!(lab.labels[3 * w + 5], big[1].label);
    }

    #[test]
    fn u_shape_merges_in_second_pass() {
        // The two arms get different provisional labels and only meet at the bottom.
        let (m, w, h) = mask_from(&[
            "#...#", //
            "#...#", //
            "#####", //
        ]);
        let comps = Labeller::default().label(&m, w, h, 1);
        assert_eq!(comps.len(), 1);
        assert_eq!(comps[0].area, 9);
    }

    #[test]
    fn short_mask_does_not_panic() {
        let comps = Labeller::default().label(&[1, 1], 4, 4, 1);
        assert_eq!(comps.len(), 1);
        assert!(Labeller::default().label(&[], 0, 0, 1).is_empty());
    }
}
