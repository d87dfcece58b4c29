#!/bin/sh
# image-stats OSCAR service: size, mean colour and the number of dark blobs of one PNG, as JSON.
# Standard library only (zlib PNG decoding), so any python3 image runs it.
set -eu
name=$(basename "$INPUT_FILE_PATH")
exec python3 - "$INPUT_FILE_PATH" "$TMP_OUTPUT_DIR/${name%.*}.json" "${DARK_THRESHOLD:-60}" <<'PY'
import json, struct, sys, zlib

path, out, threshold = sys.argv[1], sys.argv[2], int(sys.argv[3])
data = open(path, "rb").read()
if data[:8] != b"\x89PNG\r\n\x1a\n":
    sys.exit(f"{path}: not a PNG file")
pos, chunks = 8, {}
while pos < len(data):
    length, kind = struct.unpack(">I4s", data[pos:pos + 8])
    chunks.setdefault(kind, []).append(data[pos + 8:pos + 8 + length])
    pos += 12 + length
width, height, depth, colour = struct.unpack(">IIBB", chunks[b"IHDR"][0][:10])
channels = {0: 1, 2: 3, 6: 4}.get(colour)
if depth != 8 or channels is None:
    sys.exit(f"{path}: only 8-bit grey/RGB/RGBA PNGs are supported")
raw, stride = zlib.decompress(b"".join(chunks[b"IDAT"])), width * channels
rows, prev = [], bytearray(stride)
for y in range(height):
    ftype, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
    for i in range(stride):
        a = line[i - channels] if i >= channels else 0
        b, c = prev[i], prev[i - channels] if i >= channels else 0
        if ftype == 1: line[i] = (line[i] + a) & 255
        elif ftype == 2: line[i] = (line[i] + b) & 255
        elif ftype == 3: line[i] = (line[i] + (a + b) // 2) & 255
        elif ftype == 4:
            p = a + b - c; pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
    rows.append(line); prev = line
grey = [[sum(r[x * channels:x * channels + min(channels, 3)]) // min(channels, 3) for x in range(width)] for r in rows]
means = [round(sum(r[x * channels + k] for r in rows for x in range(width)) / (width * height), 2) for k in range(min(channels, 3))]
seen, blobs = set(), []
for y in range(height):
    for x in range(width):
        if grey[y][x] < threshold and (x, y) not in seen:
            stack, size = [(x, y)], 0
            seen.add((x, y))
            while stack:
                px, py = stack.pop(); size += 1
                for nx, ny in ((px + 1, py), (px - 1, py), (px, py + 1), (px, py - 1)):
                    if 0 <= nx < width and 0 <= ny < height and (nx, ny) not in seen and grey[ny][nx] < threshold:
                        seen.add((nx, ny)); stack.append((nx, ny))
            if size >= 6:
                blobs.append(size)
json.dump({"file": path.rsplit("/", 1)[-1], "width": width, "height": height, "mean_rgb": means,
           "dark_blobs": len(blobs), "blob_pixels": sorted(blobs, reverse=True)}, open(out, "w"))
PY
