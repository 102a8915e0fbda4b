variable "global_aws_region" {
  description = "AWS region the global state's provider talks to (Route 53 and IAM are global; this only picks the API endpoint)."
  type        = string
  default     = "us-east-1"
}
