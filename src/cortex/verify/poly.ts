/**
 * Polynomials over GF(p), p = 65521 (the largest prime below 2^16), for the TOPLOC-style commitment: the k points
 * (index, fp16 value) are stored as the k coefficients of the unique polynomial through them, so the indices cost
 * nothing (a verifier evaluates the polynomial at the indices it recomputed; an index the prover did not commit to
 * evaluates to an unrelated value). Every product stays below 2^32, exact in a double.
 */
export const P = 65521

const mod = (a: number): number => ((a % P) + P) % P

function inv(a: number): number {
  // Fermat: a^(p-2) mod p
  let r = 1, b = mod(a), e = P - 2
  while (e > 0) {
    if (e & 1) r = (r * b) % P
    b = (b * b) % P
    e >>= 1
  }
  return r
}

/** Coefficients c[0..k-1] (ascending powers) of the polynomial through (xs[i], ys[i]); xs must be distinct mod p. */
export function interpolate(xs: ArrayLike<number>, ys: ArrayLike<number>): Uint16Array {
  const k = xs.length
  // Newton divided differences, then expand the Newton form into monomial coefficients
  const d = Array.from({ length: k }, (_, i) => mod(ys[i]!))
  for (let j = 1; j < k; j++) {
    for (let i = k - 1; i >= j; i--) {
      const den = mod(xs[i]! - xs[i - j]!)
      if (den === 0) throw new RangeError('interpolation points must be distinct mod p')
      d[i] = (mod(d[i]! - d[i - 1]!) * inv(den)) % P
    }
  }
  const c = new Array<number>(k).fill(0)
  for (let i = k - 1; i >= 0; i--) {
    // c = c * (x - xs[i]) + d[i]
    const xi = mod(xs[i]!)
    for (let j = k - 1; j > 0; j--) c[j] = mod(c[j - 1]! - xi * c[j]!)
    c[0] = mod(d[i]! - xi * c[0]!)
  }
  return Uint16Array.from(c)
}

/** Horner evaluation at x. */
export function evaluate(c: ArrayLike<number>, x: number): number {
  const xm = mod(x)
  let r = 0
  for (let i = c.length - 1; i >= 0; i--) r = (r * xm + c[i]!) % P
  return r
}
