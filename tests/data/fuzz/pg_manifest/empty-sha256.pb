
cogitator-pg-backup	cogitator"15.8(ø“	2UTF8:00000003-0000001B-1@€Ğ•ÿ¼1Jrowsum-sha256Re
backups/pg-1/1/pre-data.sql.zst öÔ²~\:öÔ²~\:öÔ²~\:öÔ²~\:* )åÃ¡mK)åÃ¡mK)åÃ¡mK)åÃ¡mKZf
 backups/pg-1/1/post-data.sql.zst :öÔ²~\:öÔ²~\:öÔ²~\:öÔ²~\* K)åÃ¡mK)åÃ¡mK)åÃ¡mK)åÃ¡mpè×•ÿ¼1