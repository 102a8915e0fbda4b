# The service records, the epoch TXT record, and an IAM policy that lets
# drnode change exactly those records (attach it to the coordinators' role).
#
# drnode owns the records' values once they exist: Terraform creates them at
# the primary region's targets and then ignores their values, so an apply
# after a failover does not point clients back at the lost site.

data "aws_partition" "current" {}

locals {
  # Route 53 compares the normalized form: lower case, no trailing dot.
  service_names = [for n in var.service_names : lower(trimsuffix(n, "."))]
  epoch_name    = lower(trimsuffix(var.epoch_record_name, "."))
  record_types  = distinct([var.record_type, "TXT"])
}

resource "aws_route53_record" "service" {
  for_each = toset(local.service_names)

  zone_id = var.zone_id
  name    = each.value
  type    = var.record_type
  ttl     = var.ttl
  records = var.initial_targets

  lifecycle {
    ignore_changes = [records]
  }
}

resource "aws_route53_record" "epoch" {
  zone_id = var.zone_id
  name    = local.epoch_name
  type    = "TXT"
  ttl     = var.ttl
  records = ["epoch=0"]

  lifecycle {
    ignore_changes = [records]
  }
}

data "aws_iam_policy_document" "records" {
  statement {
    sid       = "ChangeDrRecordsOnly"
    actions   = ["route53:ChangeResourceRecordSets"]
    resources = ["arn:${data.aws_partition.current.partition}:route53:::hostedzone/${var.zone_id}"]

    condition {
      test     = "ForAllValues:StringEquals"
      variable = "route53:ChangeResourceRecordSetsNormalizedRecordNames"
      values   = concat(local.service_names, [local.epoch_name])
    }

    condition {
      test     = "ForAllValues:StringEquals"
      variable = "route53:ChangeResourceRecordSetsRecordTypes"
      values   = local.record_types
    }

    condition {
      test     = "ForAllValues:StringEquals"
      variable = "route53:ChangeResourceRecordSetsActions"
      values   = ["UPSERT"]
    }
  }

  statement {
    sid       = "ReadZoneRecords"
    actions   = ["route53:ListResourceRecordSets"]
    resources = ["arn:${data.aws_partition.current.partition}:route53:::hostedzone/${var.zone_id}"]
  }

  statement {
    sid       = "WaitForChanges"
    actions   = ["route53:GetChange"]
    resources = ["arn:${data.aws_partition.current.partition}:route53:::change/*"]
  }
}

resource "aws_iam_policy" "records" {
  name        = "${var.name}-drnode-dns"
  description = "drnode may change only the DR service records and the epoch TXT record in zone ${var.zone_id}."
  policy      = data.aws_iam_policy_document.records.json

  tags = var.tags
}
