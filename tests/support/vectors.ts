/**
 * The test vectors of SPEC §1 and §2, for every test to import. They are
 * plain constants (no Tako code runs here), so a test that compares Tako's
 * output with them checks Tako against the specification.
 *
 * @module
 */

/** The test key's seed: the 32 ASCII bytes `test-key-very-security-such-safe`. */
export const TEST_SEED: Uint8Array = new TextEncoder().encode("test-key-very-security-such-safe");

/** The test key's public key (SPEC §1). */
export const TEST_PUBLIC_KEY = "l0D28J2fiIXvWPbeZP7wkaq+dB55Gl2ysigl9mQH29k=";

/** The test key's secret key in the current 96-byte form (SPEC §1). */
export const TEST_SECRET_KEY =
  "SECRET+dGVzdC1rZXktdmVyeS1zZWN1cml0eS1zdWNoLXNhZmWXQPbwnZ+Ihe9Y9t5k/vCRqr50HnkaXbKyKCX2ZAfb2ZdA9vCdn4iF71j23mT+8JGqvnQeeRpdsrIoJfZkB9vZ";

/** The test key's secret key in the older 64-byte form (seed and public key), which Tako also accepts. */
export const TEST_SECRET_KEY_64 =
  "SECRET+dGVzdC1rZXktdmVyeS1zZWN1cml0eS1zdWNoLXNhZmWXQPbwnZ+Ihe9Y9t5k/vCRqr50HnkaXbKyKCX2ZAfb2Q==";

/** The one entry of the first manifest vector (SPEC §2); the image's contents are not given. */
export const ONE_ENTRY = {
  version: "1.0.0",
  size: 17n,
  sha256: "9641a49d02e90cbb6213f202fb632da70cdc59073d42283cfcdc1d786454f17f",
} as const;

/** The first manifest vector (SPEC §2), signed with the test key. */
export const ONE_ENTRY_MANIFEST = "Tako Manifest 1\n" +
  "\n" +
  "1.0.0 17 9641a49d02e90cbb6213f202fb632da70cdc59073d42283cfcdc1d786454f17f\n" +
  "\n" +
  "WezSd49tB4ng/nbRZWWfLak+Sn1pUcOoA6X5pSg2MMOGRR4Lz0XYznFKKVj/E8vCCdmt3pQO4xTFyKlMUq1SCQ==\n";

/** An image of the second manifest vector: its version, contents, size and SHA-256. */
export interface TestImage {
  readonly version: string;
  readonly content: string;
  readonly size: bigint;
  readonly sha256: string;
}

/** The three images of the second manifest vector (SPEC §2), in manifest order. */
export const THREE_IMAGES: readonly TestImage[] = [
  {
    version: "1.0.0",
    content: "image one\n",
    size: 10n,
    sha256: "81b9783a13d6822dfb3d1413ae5654228b04fa8790c5d6a5b79ba889f184cce5",
  },
  {
    version: "1.1.0",
    content: "image one point one\n",
    size: 20n,
    sha256: "e8e9c3cf85d5ee8f2c2cb12083d987f0552df6cfbc6eefc639686bc8261a1c0e",
  },
  {
    version: "2.0.0",
    content: "image two\n",
    size: 10n,
    sha256: "4285542ca100206c85381b7affa8d3c6b1eb89f9c3c08cf5821b23ecdbf63a79",
  },
];

/** The second manifest vector (SPEC §2): the three images, signed with the test key. */
export const THREE_ENTRY_MANIFEST = "Tako Manifest 1\n" +
  "\n" +
  "1.0.0 10 81b9783a13d6822dfb3d1413ae5654228b04fa8790c5d6a5b79ba889f184cce5\n" +
  "1.1.0 20 e8e9c3cf85d5ee8f2c2cb12083d987f0552df6cfbc6eefc639686bc8261a1c0e\n" +
  "2.0.0 10 4285542ca100206c85381b7affa8d3c6b1eb89f9c3c08cf5821b23ecdbf63a79\n" +
  "\n" +
  "uo6LtAipi7KcelFsuDAMi9KB+2LMAY1sef3loQDGORk5YHt9coR2TtkDv6TYTE1Pb7Ho4cr6pcmkU3WVRwb2Bg==\n";
