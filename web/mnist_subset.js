// Writes the first N training images of the shipped MNIST (data/mnist/) as a raw IDX data set
// in DIR (train-images-idx3-ubyte, train-labels-idx1-ubyte), for a short `train --data DIR`
// run: web/test.sh's training dashboard.
// Usage: node mnist_subset.js DIR N
"use strict";
const fs = require("fs");
const path = require("path");
const zlib = require("zlib");

const [dir, n] = [process.argv[2], Number(process.argv[3])];
if (!dir || !(n > 0)) {
  console.error("usage: node mnist_subset.js DIR N");
  process.exit(2);
}
const mnist = path.join(__dirname, "..", "data", "mnist");
for (const [file, header, item] of [["train-images-idx3-ubyte", 16, 784], ["train-labels-idx1-ubyte", 8, 1]]) {
  const all = zlib.gunzipSync(fs.readFileSync(path.join(mnist, `${file}.gz`)));
  if (all.readUInt32BE(4) < n) throw new Error(`${file} has only ${all.readUInt32BE(4)} items`);
  const out = Buffer.from(all.subarray(0, header + n * item));
  out.writeUInt32BE(n, 4); // the item count
  fs.writeFileSync(path.join(dir, file), out);
}
