//! Geohashes as Redis 7.0 computes them, so that scores, searches and distances agree with
//! redis-server to the last bit:
//!
//! - a position is a 52-bit score: 26 bits of latitude (over -85.05112878..85.05112878, the
//!   Web Mercator limits) and 26 of longitude (-180..180) interleaved, latitude in the even
//!   bits;
//! - a search estimates a precision (step) from the radius, takes the cell around the centre
//!   and its eight neighbours at that step, drops the neighbours the search area cannot reach,
//!   and reads each cell as one score range of the sorted set;
//! - distances use the haversine formula on a sphere of radius 6372797.560856 m.
//!
//! Every floating-point expression keeps Redis's order of operations: a different order
//! rounds differently and moves points across a search's edge.

use crate::zset::ZSetValue;
use std::f64::consts::PI;

/// Bits per coordinate of a stored score (26 * 2 = 52).
pub const STEP_MAX: u8 = 26;
pub const LAT_MIN: f64 = -85.05112878;
pub const LAT_MAX: f64 = 85.05112878;
pub const LONG_MIN: f64 = -180.0;
pub const LONG_MAX: f64 = 180.0;
/// The earth's quadratic mean radius (WGS-84), in meters.
pub const EARTH_RADIUS_M: f64 = 6372797.560856;
const MERCATOR_MAX: f64 = 20037726.37;
const DEG_TO_RAD: f64 = PI / 180.0;

fn deg_rad(deg: f64) -> f64 {
    deg * DEG_TO_RAD
}

fn rad_deg(rad: f64) -> f64 {
    rad / DEG_TO_RAD
}

/// A cell: `step` bits of each coordinate, interleaved into the low `2 * step` bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Hash {
    pub bits: u64,
    pub step: u8,
}

impl Hash {
    /// The "no cell" marker of a neighbour a search skips.
    pub const NONE: Hash = Hash { bits: 0, step: 0 };

    pub fn is_none(&self) -> bool {
        self.bits == 0 && self.step == 0
    }

    /// The cell's lowest 52-bit score: its bits moved to the top of 52.
    pub fn align52(&self) -> u64 {
        self.bits << (52 - self.step as u32 * 2)
    }

    /// The scores of the cell: `min <= score < max`.
    pub fn score_range(&self) -> (f64, f64) {
        let next = Hash {
            bits: self.bits + 1,
            step: self.step,
        };
        (self.align52() as f64, next.align52() as f64)
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Range {
    pub min: f64,
    pub max: f64,
}

/// The ranges stored scores are encoded over.
pub const LONG_RANGE: Range = Range {
    min: LONG_MIN,
    max: LONG_MAX,
};
pub const LAT_RANGE: Range = Range {
    min: LAT_MIN,
    max: LAT_MAX,
};

/// A cell's bounds.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Area {
    pub hash: Hash,
    pub longitude: Range,
    pub latitude: Range,
}

/// Spreads the 32 bits of `v` over the even bits of a u64.
fn spread(v: u32) -> u64 {
    let mut x = v as u64;
    x = (x | (x << 16)) & 0x0000_FFFF_0000_FFFF;
    x = (x | (x << 8)) & 0x00FF_00FF_00FF_00FF;
    x = (x | (x << 4)) & 0x0F0F_0F0F_0F0F_0F0F;
    x = (x | (x << 2)) & 0x3333_3333_3333_3333;
    (x | (x << 1)) & 0x5555_5555_5555_5555
}

/// The inverse of [`spread`]: the even bits of `v`, packed.
fn squeeze(v: u64) -> u32 {
    let mut x = v & 0x5555_5555_5555_5555;
    x = (x | (x >> 1)) & 0x3333_3333_3333_3333;
    x = (x | (x >> 2)) & 0x0F0F_0F0F_0F0F_0F0F;
    x = (x | (x >> 4)) & 0x00FF_00FF_00FF_00FF;
    x = (x | (x >> 8)) & 0x0000_FFFF_0000_FFFF;
    x = (x | (x >> 16)) & 0x0000_0000_FFFF_FFFF;
    x as u32
}

/// Latitude cell index in the even bits, longitude in the odd ones.
pub fn interleave(lat: u32, lon: u32) -> u64 {
    spread(lat) | (spread(lon) << 1)
}

/// (latitude index, longitude index) of interleaved bits.
pub fn deinterleave(bits: u64) -> (u32, u32) {
    (squeeze(bits), squeeze(bits >> 1))
}

/// The cell of `step` bits holding the position, over the given ranges; None outside them
/// (or outside the Mercator limits, which hold for every range).
pub fn encode(lon_range: Range, lat_range: Range, lon: f64, lat: f64, step: u8) -> Option<Hash> {
    if step == 0 || step > 32 {
        return None;
    }
    if !(LONG_MIN..=LONG_MAX).contains(&lon) || !(LAT_MIN..=LAT_MAX).contains(&lat) {
        return None;
    }
    if lat < lat_range.min || lat > lat_range.max || lon < lon_range.min || lon > lon_range.max {
        return None;
    }
    let cells = (1u64 << step) as f64;
    let lat_offset = (lat - lat_range.min) / (lat_range.max - lat_range.min) * cells;
    let lon_offset = (lon - lon_range.min) / (lon_range.max - lon_range.min) * cells;
    // Truncation toward zero, as C's conversion to uint32_t.
    Some(Hash {
        bits: interleave(lat_offset as u32, lon_offset as u32),
        step,
    })
}

/// [`encode`] over the stored-score ranges.
pub fn encode_wgs84(lon: f64, lat: f64, step: u8) -> Option<Hash> {
    encode(LONG_RANGE, LAT_RANGE, lon, lat, step)
}

/// The bounds of a cell over the given ranges; None for [`Hash::NONE`].
pub fn decode(lon_range: Range, lat_range: Range, hash: Hash) -> Option<Area> {
    if hash.is_none() {
        return None;
    }
    let (ilat, ilon) = deinterleave(hash.bits);
    let cells = (1u64 << hash.step) as f64;
    let lat_scale = lat_range.max - lat_range.min;
    let lon_scale = lon_range.max - lon_range.min;
    // `index + 1` wraps in 32 bits as it does in C (only reachable from scores above 2^52).
    let lat_next = ilat.wrapping_add(1);
    let lon_next = ilon.wrapping_add(1);
    Some(Area {
        hash,
        latitude: Range {
            min: lat_range.min + (ilat as f64 / cells) * lat_scale,
            max: lat_range.min + (lat_next as f64 / cells) * lat_scale,
        },
        longitude: Range {
            min: lon_range.min + (ilon as f64 / cells) * lon_scale,
            max: lon_range.min + (lon_next as f64 / cells) * lon_scale,
        },
    })
}

/// The centre of a cell, clamped to the Mercator limits: (longitude, latitude).
pub fn area_center(area: &Area) -> (f64, f64) {
    let lon = ((area.longitude.min + area.longitude.max) / 2.0).clamp(LONG_MIN, LONG_MAX);
    let lat = ((area.latitude.min + area.latitude.max) / 2.0).clamp(LAT_MIN, LAT_MAX);
    (lon, lat)
}

/// C's conversion of a double to uint64_t as x86-64 compilers emit it: values below 2^63
/// (negative ones included) convert as signed integers; anything a signed conversion cannot
/// hold yields the "integer indefinite" value.
fn c_double_to_u64(v: f64) -> u64 {
    const TWO_63: f64 = 9_223_372_036_854_775_808.0;
    const INDEFINITE: u64 = 1 << 63;
    if v.is_nan() {
        return INDEFINITE;
    }
    if v < TWO_63 {
        if v < -TWO_63 {
            return INDEFINITE;
        }
        return v as i64 as u64;
    }
    let high = v - TWO_63;
    if high >= TWO_63 {
        return 0;
    }
    (high as i64 as u64) ^ INDEFINITE
}

/// The position a sorted-set score stands for: (longitude, latitude). Any score decodes,
/// as in Redis (scores that no GEOADD wrote give clamped positions).
pub fn decode_score(score: f64) -> (f64, f64) {
    let hash = Hash {
        bits: c_double_to_u64(score),
        step: STEP_MAX,
    };
    let area = decode(LONG_RANGE, LAT_RANGE, hash).expect("a 26-step cell always decodes");
    area_center(&area)
}

/// The score GEOADD stores for a valid position.
pub fn score_of(lon: f64, lat: f64) -> Option<u64> {
    encode_wgs84(lon, lat, STEP_MAX).map(|h| h.align52())
}

const ALPHABET: &[u8; 32] = b"0123456789bcdefghjkmnpqrstuvwxyz";

/// GEOHASH's 11-character string for a stored score: the position re-encoded over the
/// standard -90..90 latitude range; the 11th character stands for bits a score lacks.
pub fn geohash_string(score: f64) -> [u8; 11] {
    let (lon, lat) = decode_score(score);
    let lat_std = Range {
        min: -90.0,
        max: 90.0,
    };
    // A decoded position is inside the limits, so this cannot fail; zero bits if it did,
    // as Redis's encoder leaves them.
    let bits = encode(LONG_RANGE, lat_std, lon, lat, STEP_MAX).map_or(0, |h| h.bits);
    let mut out = [b'0'; 11];
    for (i, c) in out.iter_mut().take(10).enumerate() {
        let idx = (bits >> (52 - (i + 1) * 5)) & 0x1f;
        *c = ALPHABET[idx as usize];
    }
    out
}

// ---- neighbours and search areas ---------------------------------------------------------

const ODD_BITS: u64 = 0xaaaa_aaaa_aaaa_aaaa;
const EVEN_BITS: u64 = 0x5555_5555_5555_5555;

/// Moves a cell one step east (`d > 0`) or west along the longitude bits, wrapping around.
fn move_x(h: &mut Hash, d: i8) {
    if d == 0 {
        return;
    }
    let shift = 64 - h.step as u32 * 2;
    let mut x = h.bits & ODD_BITS;
    let y = h.bits & EVEN_BITS;
    // Filling the latitude gaps with ones makes the carry run through the longitude bits.
    let gaps = EVEN_BITS >> shift;
    if d > 0 {
        x = x.wrapping_add(gaps + 1);
    } else {
        x = (x | gaps).wrapping_sub(gaps + 1);
    }
    x &= ODD_BITS >> shift;
    h.bits = x | y;
}

/// Moves a cell one step north (`d > 0`) or south along the latitude bits.
fn move_y(h: &mut Hash, d: i8) {
    if d == 0 {
        return;
    }
    let shift = 64 - h.step as u32 * 2;
    let x = h.bits & ODD_BITS;
    let mut y = h.bits & EVEN_BITS;
    let gaps = ODD_BITS >> shift;
    if d > 0 {
        y = y.wrapping_add(gaps + 1);
    } else {
        y = (y | gaps).wrapping_sub(gaps + 1);
    }
    y &= EVEN_BITS >> shift;
    h.bits = x | y;
}

fn moved(h: Hash, dx: i8, dy: i8) -> Hash {
    let mut n = h;
    move_x(&mut n, dx);
    move_y(&mut n, dy);
    n
}

/// What a search reads: the centre cell and its neighbours in Redis's visiting order
/// (centre, N, S, E, W, NE, NW, SE, SW); a skipped neighbour is [`Hash::NONE`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SearchArea {
    pub cells: [Hash; 9],
    pub center: Area,
}

/// What a search covers: a circle of `radius` or a `width` x `height` box, in the unit that
/// `to_meters` converts, around (lon, lat).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ShapeKind {
    Radius(f64),
    Box { width: f64, height: f64 },
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Shape {
    pub lon: f64,
    pub lat: f64,
    pub to_meters: f64,
    pub kind: ShapeKind,
}

/// The step whose cells a search of `range_m` meters around latitude `lat` uses.
pub fn estimate_steps(range_m: f64, lat: f64) -> u8 {
    if range_m == 0.0 {
        return 26;
    }
    let mut range = range_m;
    let mut step: i32 = 1;
    while range < MERCATOR_MAX {
        range *= 2.0;
        step += 1;
    }
    // Two steps coarser, so the range fits the cells in most cases.
    step -= 2;
    // Meridians converge towards the poles: coarser still there.
    if !(-66.0..=66.0).contains(&lat) {
        step -= 1;
        if !(-80.0..=80.0).contains(&lat) {
            step -= 1;
        }
    }
    step.clamp(1, 26) as u8
}

impl Shape {
    /// [min lon, min lat, max lon, max lat] of the area the shape can reach.
    pub fn bounds(&self) -> [f64; 4] {
        let (half_h, half_w) = match self.kind {
            ShapeKind::Radius(r) => (r, r),
            ShapeKind::Box { width, height } => (height / 2.0, width / 2.0),
        };
        let height = self.to_meters * half_h;
        let width = self.to_meters * half_w;
        let lat_delta = rad_deg(height / EARTH_RADIUS_M);
        let lon_delta_top = rad_deg(width / EARTH_RADIUS_M / deg_rad(self.lat + lat_delta).cos());
        let lon_delta_bottom =
            rad_deg(width / EARTH_RADIUS_M / deg_rad(self.lat - lat_delta).cos());
        // The widest edge is the one nearer the equator.
        let lon_delta = if self.lat < 0.0 {
            lon_delta_bottom
        } else {
            lon_delta_top
        };
        [
            self.lon - lon_delta,
            self.lat - lat_delta,
            self.lon + lon_delta,
            self.lat + lat_delta,
        ]
    }

    /// The cells a search of this shape reads.
    pub fn search_area(&self) -> SearchArea {
        let [min_lon, min_lat, max_lon, max_lat] = self.bounds();
        let radius_m = match self.kind {
            ShapeKind::Radius(r) => r,
            ShapeKind::Box { width, height } => {
                ((width / 2.0) * (width / 2.0) + (height / 2.0) * (height / 2.0)).sqrt()
            }
        } * self.to_meters;
        let mut steps = estimate_steps(radius_m, self.lat);
        let cell = |steps| encode_wgs84(self.lon, self.lat, steps).expect("centre in range");
        let area_of = |h| decode(LONG_RANGE, LAT_RANGE, h).expect("a cell decodes");
        let mut hash = cell(steps);
        // One step coarser when a side neighbour ends short of the search area.
        let short = area_of(moved(hash, 0, 1)).latitude.max < max_lat
            || area_of(moved(hash, 0, -1)).latitude.min > min_lat
            || area_of(moved(hash, 1, 0)).longitude.max < max_lon
            || area_of(moved(hash, -1, 0)).longitude.min > min_lon;
        if steps > 1 && short {
            steps -= 1;
            hash = cell(steps);
        }
        let center = area_of(hash);
        let (mut n, mut s, mut e, mut w) = (
            moved(hash, 0, 1),
            moved(hash, 0, -1),
            moved(hash, 1, 0),
            moved(hash, -1, 0),
        );
        let (mut ne, mut nw, mut se, mut sw) = (
            moved(hash, 1, 1),
            moved(hash, -1, 1),
            moved(hash, 1, -1),
            moved(hash, -1, -1),
        );
        // Neighbours beyond an edge the centre cell already covers are not read.
        if steps >= 2 {
            if center.latitude.min < min_lat {
                (s, sw, se) = (Hash::NONE, Hash::NONE, Hash::NONE);
            }
            if center.latitude.max > max_lat {
                (n, ne, nw) = (Hash::NONE, Hash::NONE, Hash::NONE);
            }
            if center.longitude.min < min_lon {
                (w, sw, nw) = (Hash::NONE, Hash::NONE, Hash::NONE);
            }
            if center.longitude.max > max_lon {
                (e, se, ne) = (Hash::NONE, Hash::NONE, Hash::NONE);
            }
        }
        SearchArea {
            cells: [hash, n, s, e, w, ne, nw, se, sw],
            center,
        }
    }

    /// The distance in meters from the centre to (lon, lat) when the point is inside.
    pub fn contains(&self, lon: f64, lat: f64) -> Option<f64> {
        match self.kind {
            ShapeKind::Radius(r) => {
                let d = distance(self.lon, self.lat, lon, lat);
                // NaN compares false, so it counts as inside, as in Redis.
                (d <= r * self.to_meters || d.is_nan()).then_some(d)
            }
            ShapeKind::Box { width, height } => {
                let (w, h) = (width * self.to_meters, height * self.to_meters);
                if lat_distance(lat, self.lat) > h / 2.0 {
                    return None;
                }
                if distance(lon, lat, self.lon, lat) > w / 2.0 {
                    return None;
                }
                Some(distance(self.lon, self.lat, lon, lat))
            }
        }
    }
}

// ---- distances ---------------------------------------------------------------------------

/// The distance along a meridian (the longitudes are equal).
pub fn lat_distance(lat1: f64, lat2: f64) -> f64 {
    EARTH_RADIUS_M * (deg_rad(lat2) - deg_rad(lat1)).abs()
}

/// The haversine great-circle distance in meters.
pub fn distance(lon1: f64, lat1: f64, lon2: f64, lat2: f64) -> f64 {
    let lon1r = deg_rad(lon1);
    let lon2r = deg_rad(lon2);
    let v = ((lon2r - lon1r) / 2.0).sin();
    if v == 0.0 {
        return lat_distance(lat1, lat2);
    }
    let lat1r = deg_rad(lat1);
    let lat2r = deg_rad(lat2);
    let u = ((lat2r - lat1r) / 2.0).sin();
    let a = u * u + lat1r.cos() * lat2r.cos() * v * v;
    2.0 * EARTH_RADIUS_M * a.sqrt().asin()
}

// ---- search ------------------------------------------------------------------------------

/// A member found by a search; [`Results::name_of`] gives its name.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Found {
    /// Where the member's bytes are in [`Results::names`].
    pub name_at: usize,
    pub name_len: usize,
    pub score: f64,
    pub lon: f64,
    pub lat: f64,
    /// Meters from the shape's centre.
    pub dist: f64,
}

/// What a search found: the points, and their names in one buffer (one allocation for all
/// of them, not one per point; most points of a COUNT search are dropped).
#[derive(Debug, Default)]
pub struct Results {
    pub points: Vec<Found>,
    pub names: Vec<u8>,
}

impl Results {
    pub fn name_of(&self, f: &Found) -> &[u8] {
        &self.names[f.name_at..f.name_at + f.name_len]
    }
}

/// The members of `z` inside `shape`, cell by cell in the search order, each cell in score
/// order. With `limit` > 0 (ANY), stops once that many were found.
pub fn search(z: &ZSetValue, shape: &Shape, limit: usize, out: &mut Results) {
    let area = shape.search_area();
    let mut last: Option<usize> = None;
    for (i, cell) in area.cells.iter().enumerate() {
        if cell.is_none() {
            continue;
        }
        // Very large searches repeat a cell in a row: read it once. (Redis compares only
        // when something other than the centre was read last.)
        if let Some(l) = last.filter(|&l| l > 0) {
            if area.cells[l] == *cell {
                continue;
            }
        }
        if limit > 0 && out.points.len() >= limit {
            break;
        }
        let (min, max) = cell.score_range();
        let from = z.partition(|s, _| s < min);
        z.walk(from, z.len(), false, |m, score| {
            if score >= max {
                return false;
            }
            let (lon, lat) = decode_score(score);
            if let Some(dist) = shape.contains(lon, lat) {
                out.points.push(Found {
                    name_at: out.names.len(),
                    name_len: m.len(),
                    score,
                    lon,
                    lat,
                    dist,
                });
                out.names.extend_from_slice(m);
            }
            !(limit > 0 && out.points.len() >= limit)
        });
        last = Some(i);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interleave_round_trips() {
        for (a, b) in [
            (0u32, 0u32),
            (1, 0),
            (0, 1),
            (0x3ff_ffff, 0x155_5555),
            (u32::MAX, 7),
        ] {
            assert_eq!(deinterleave(interleave(a, b)), (a, b));
        }
        assert_eq!(interleave(1, 0), 1);
        assert_eq!(interleave(0, 1), 2);
    }

    #[test]
    fn scores_match_redis() {
        // GEOADD Sicily 13.361389 38.115556 Palermo 15.087269 37.502669 Catania, as
        // redis-server stores them.
        assert_eq!(score_of(13.361389, 38.115556), Some(3479099956230698));
        assert_eq!(score_of(15.087269, 37.502669), Some(3479447370796909));
        assert_eq!(score_of(181.0, 0.0), None);
        assert_eq!(score_of(0.0, 85.06), None);
        assert_eq!(&geohash_string(3479099956230698.0), b"sqc8b49rny0");
        assert_eq!(&geohash_string(3479447370796909.0), b"sqdtr74hyu0");
    }

    #[test]
    fn distance_matches_redis() {
        let (lon1, lat1) = decode_score(3479099956230698.0);
        let (lon2, lat2) = decode_score(3479447370796909.0);
        // GEODIST Sicily Palermo Catania: "166274.1516".
        let d = distance(lon1, lat1, lon2, lat2);
        assert!((d - 166274.1516).abs() < 0.00006, "{d}");
        assert_eq!(lat_distance(10.0, 10.0), 0.0);
    }

    #[test]
    fn steps_follow_the_radius() {
        assert_eq!(estimate_steps(0.0, 0.0), 26);
        assert_eq!(estimate_steps(1.0, 0.0), 24);
        assert_eq!(estimate_steps(200_000.0, 0.0), 6);
        assert_eq!(estimate_steps(200_000.0, 70.0), 5);
        assert_eq!(estimate_steps(200_000.0, -85.0), 4);
        assert_eq!(estimate_steps(1e9, 0.0), 1);
    }

    #[test]
    fn neighbours_move_one_cell() {
        let h = encode_wgs84(10.0, 10.0, 10).unwrap();
        let a = decode(LONG_RANGE, LAT_RANGE, h).unwrap();
        let e = decode(LONG_RANGE, LAT_RANGE, moved(h, 1, 0)).unwrap();
        let n = decode(LONG_RANGE, LAT_RANGE, moved(h, 0, 1)).unwrap();
        assert_eq!(e.longitude.min, a.longitude.max);
        assert_eq!(e.latitude, a.latitude);
        assert_eq!(n.latitude.min, a.latitude.max);
        assert_eq!(moved(moved(h, -1, -1), 1, 1), h);
    }

    #[test]
    fn odd_scores_decode_like_c() {
        assert_eq!(c_double_to_u64(-1.0), u64::MAX);
        assert_eq!(c_double_to_u64(f64::NAN), 1 << 63);
        assert_eq!(c_double_to_u64(12.9), 12);
        let (lon, lat) = decode_score(-1.0);
        assert!((LONG_MIN..=LONG_MAX).contains(&lon) && (LAT_MIN..=LAT_MAX).contains(&lat));
    }
}
