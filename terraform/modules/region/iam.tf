# The coordinators' instance role: write this region's bucket, read the
# other regions' buckets, and nothing else (plus var.extra_policy_arns, such
# as the DNS module's policy for exactly its records).

data "aws_iam_policy_document" "assume_ec2" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["ec2.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "coordinator" {
  name               = "${local.name}-coordinator"
  assume_role_policy = data.aws_iam_policy_document.assume_ec2.json

  tags = local.tags
}

data "aws_iam_policy_document" "backups_access" {
  statement {
    sid       = "ListOwnBucket"
    actions   = ["s3:ListBucket", "s3:GetBucketLocation", "s3:ListBucketMultipartUploads"]
    resources = [aws_s3_bucket.backups.arn]

    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["", "${var.backup_prefix}/*"]
    }
  }

  statement {
    sid = "WriteOwnBackups"
    actions = [
      "s3:GetObject",
      "s3:PutObject",
      "s3:DeleteObject",
      "s3:AbortMultipartUpload",
      "s3:ListMultipartUploadParts",
    ]
    resources = ["${aws_s3_bucket.backups.arn}/${var.backup_prefix}/*"]
  }

  dynamic "statement" {
    for_each = length(local.other_buckets) > 0 ? [1] : []

    content {
      sid       = "ListOtherRegionsBuckets"
      actions   = ["s3:ListBucket", "s3:GetBucketLocation"]
      resources = [for b in local.other_buckets : "arn:${data.aws_partition.current.partition}:s3:::${b}"]

      condition {
        test     = "StringLike"
        variable = "s3:prefix"
        values   = ["", "${var.backup_prefix}/*"]
      }
    }
  }

  dynamic "statement" {
    for_each = length(local.other_buckets) > 0 ? [1] : []

    content {
      sid       = "ReadOtherRegionsBackups"
      actions   = ["s3:GetObject"]
      resources = [for b in local.other_buckets : "arn:${data.aws_partition.current.partition}:s3:::${b}/${var.backup_prefix}/*"]
    }
  }
}

resource "aws_iam_role_policy" "backups" {
  name   = "backups"
  role   = aws_iam_role.coordinator.id
  policy = data.aws_iam_policy_document.backups_access.json
}

resource "aws_iam_role_policy_attachment" "extra" {
  for_each = var.extra_policy_arns

  role       = aws_iam_role.coordinator.name
  policy_arn = each.value
}

resource "aws_iam_instance_profile" "coordinator" {
  name = "${local.name}-coordinator"
  role = aws_iam_role.coordinator.name

  tags = local.tags
}

# The cluster token, for the coordinators only: a SecureString (the AWS
# managed key aws/ssm) that cloud-init reads at first boot with the role.
# It never travels in user data or outputs; it is in the Terraform state,
# like every secret Terraform manages (keep the state encrypted and private).
resource "aws_ssm_parameter" "token" {
  name        = local.token_parameter
  description = "drnode cluster token of ${var.cluster_name} (read by the coordinators of ${var.region})"
  type        = "SecureString"
  value       = var.cluster_token

  tags = local.tags
}

# The named tokens with their roles ([api] tokens_file), when any.
resource "aws_ssm_parameter" "tokens" {
  count = local.roles ? 1 : 0

  name        = local.tokens_parameter
  description = "drnode API tokens of ${var.cluster_name} (NAME ROLE TOKEN lines)"
  type        = "SecureString"
  value = join("", [for name in sort(keys(var.api_tokens)) :
  "${name} ${var.api_tokens[name].role} ${var.api_tokens[name].token}\n"])

  tags = local.tags

  lifecycle {
    precondition {
      condition = anytrue([for t in values(var.api_tokens) :
      t.token == var.cluster_token && contains(["node", "admin"], t.role)])
      error_message = "api_tokens must hold cluster_token with the node or admin role: every coordinator sends it to the others."
    }
  }
}

# Each coordinator's TLS key, when TLS is on: one SecureString per node.
resource "aws_ssm_parameter" "tls_key" {
  for_each = local.tls ? local.nodes : {}

  name        = local.tls_key_parameter[each.key]
  description = "drnode TLS key of node ${each.key} of ${var.cluster_name}"
  type        = "SecureString"
  value       = lookup(var.tls_node_keys, each.key, "")

  tags = local.tags

  lifecycle {
    precondition {
      condition     = contains(keys(var.tls_node_certs), each.key) && nonsensitive(strcontains(lookup(var.tls_node_keys, each.key, ""), "PRIVATE KEY-----"))
      error_message = "With tls_ca_cert, every coordinator of this region needs tls_node_certs[\"${each.key}\"] and a PEM private key in tls_node_keys[\"${each.key}\"] (drctl certs issue --id ${each.key})."
    }
  }
}

data "aws_iam_policy_document" "token_access" {
  statement {
    sid     = "ReadClusterToken"
    actions = ["ssm:GetParameter"]
    resources = concat([aws_ssm_parameter.token.arn], aws_ssm_parameter.tokens[*].arn,
    [for p in aws_ssm_parameter.tls_key : p.arn])
  }
}

resource "aws_iam_role_policy" "token" {
  name   = "cluster-token"
  role   = aws_iam_role.coordinator.id
  policy = data.aws_iam_policy_document.token_access.json
}

# Shell access for operators without SSH: SSM Session Manager.
resource "aws_iam_role_policy_attachment" "ssm_session" {
  count      = var.ssm_session_access ? 1 : 0
  role       = aws_iam_role.coordinator.name
  policy_arn = "arn:${data.aws_partition.current.partition}:iam::aws:policy/AmazonSSMManagedInstanceCore"
}
