"""Derives the Winograd F(m, r) transform matrices used in src/kernels/winograd.rs, exactly, and checks
them against the definition y_i = sum_k g_k d_(i+k) symbolically.

    python3 docs/winograd-matrices.py        (needs sympy)

Construction (Toom-Cook on the points p_j, plus the point at infinity):
  A^T[i][j] = p_j^i,          A^T[m-1][inf] = 1
  G[j][k]   = p_j^k / f_j,    G[inf][r-1]   = 1,   f_j = prod_(l != j) (p_j - p_l)
  B^T       solved from  A^T ((G g) * (B^T d)) = correlation(g, d)  for every g, d.
src/kernels/winograd.rs flips the sign of row 0 of G and of B^T (their product is unchanged) for
F(2, 3) and F(4, 5), so that both start with +1; F(4, 3)'s come out positive as they are (they
are Lavin & Gray's).
"""
import sympy as sp
from sympy import Rational as R


def derive(m, r, pts):
    a = m + r - 1
    assert len(pts) == a - 1
    AT = sp.zeros(m, a)
    G = sp.zeros(a, r)
    for j, p in enumerate(pts):
        f = 1
        for l, q in enumerate(pts):
            if l != j:
                f *= p - q
        for i in range(m):
            AT[i, j] = p**i
        for k in range(r):
            G[j, k] = sp.nsimplify(p**k / f)
    AT[m - 1, a - 1] = 1
    G[a - 1, r - 1] = 1
    BT = sp.zeros(a, a)
    for l in range(a):
        rows, rhs = [], []
        for i in range(m):
            for k in range(r):
                rows.append([AT[i, j] * G[j, k] for j in range(a)])
                rhs.append(1 if l == i + k else 0)
        sol, params = sp.Matrix(rows).gauss_jordan_solve(sp.Matrix(rhs))
        assert len(params) == 0
        for j in range(a):
            BT[j, l] = sol[j]
    g = sp.symbols("g0:%d" % r)
    d = sp.symbols("d0:%d" % a)
    u = sp.Matrix([sum(G[j, k] * g[k] for k in range(r)) for j in range(a)])
    y = AT * u.multiply_elementwise(BT * sp.Matrix(d))
    for i in range(m):
        assert sp.expand(y[i] - sum(g[k] * d[i + k] for k in range(r))) == 0
    return AT, G, BT


for m, r, pts in [(2, 3, [0, 1, -1]), (4, 5, [0, 1, -1, 2, -2, R(1, 2), -R(1, 2)]), (4, 3, [0, 1, -1, 2, -2])]:
    AT, G, BT = derive(m, r, pts)
    print("F(%d, %d): checked" % (m, r))
    print("  A^T =", AT.tolist())
    print("  G   =", G.tolist())
    print("  B^T =", BT.tolist())
