// Package mailbox is Loam's store-and-forward layer: mailbox replicas that
// keep ciphertext blobs under unlinkable ids, and the client side that
// deposits, fetches and deletes them through the mixnet.
//
// A mailbox id is an Ed25519 public key. Only the holder of its private key
// — the capability — can deposit into the mailbox or delete from it; anyone
// who knows the id can fetch, and gets ciphertext. Every request arrives as
// an onion packet and every answer returns by a single-use reply block, so a
// replica never learns who asks. SPEC.md §7 is the byte-level definition.
package mailbox
