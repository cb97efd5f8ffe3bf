"""志愿服务证明: certificates of a member's verified services in a period, frozen when issued,
with a serial number, a verification code, a PDF and a public verification page
(docs/certificates-and-archive.md)."""
